"""The REST request pipeline: parse, record, authenticate, inject faults, route, answer.

Every request is recorded before anything can fail, so a test sees an unexpected call (answered
with Discord's 404 JSON) instead of a client hanging on a socket nobody serves.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from .faults import FaultPlan, discord_error
from .form_errors import FormError
from .recording import Journal, RestCall, interesting_headers
from .state import DiscordStateError
from .throttle import Throttle

API_PREFIX = "/api/v10"


class ApiError(Exception):
    """Raised by handlers to answer with Discord's error JSON."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body = discord_error(code, message, errors)


def invalid_form(field_name: str, error_code: str, message: str) -> ApiError:
    """A 400 50035 "Invalid Form Body" pointing at one field, as Discord reports validation errors."""
    return ApiError(
        400, 50035, "Invalid Form Body", {field_name: {"_errors": [{"code": error_code, "message": message}]}}
    )


@dataclass
class UploadedFile:
    field_name: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RestRequest:
    """What a handler needs: parsed body, route parameters and the raw aiohttp request."""

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    json: Any
    files: list[UploadedFile] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    def id(self, name: str) -> int:
        return int(self.params[name])

    def body(self) -> dict[str, Any]:
        """The JSON object body; handlers that need one reject anything else with 50035."""
        if not isinstance(self.json, dict):
            raise ApiError(400, 50035, "Invalid Form Body")
        return self.json

    @property
    def audit_log_reason(self) -> str | None:
        raw = self.headers.get("X-Audit-Log-Reason")
        return unquote(raw) if raw is not None else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None


NO_CONTENT = Reply(204)

Handler = Callable[[RestRequest], Awaitable[Reply]]


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    authenticated: bool


def _compile(template: str) -> re.Pattern[str]:
    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        value = r"\d+" if name.endswith("_id") else r"[^/]+"
        return f"(?P<{name}>{value})"

    escaped = re.sub(r"\\\{(\w+)\\\}", placeholder, re.escape(template))
    return re.compile(f"^{escaped}$")


class Router:
    """Route templates to handlers; snowflake placeholders (``*_id``) only match digits."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler, *, authenticated: bool = True) -> None:
        self._routes.append(_Route(method, template, _compile(template), handler, authenticated))

    def match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, params, path_known); ``path_known`` without a route means wrong method."""
        path_known = False
        for route in self._routes:
            found = route.regex.match(path)
            if found is None:
                continue
            path_known = True
            if route.method == method:
                return route, found.groupdict(), True
        return None, {}, path_known


def _normal_rate_limit_headers(template: str) -> dict[str, str]:
    # Present on every response like on Discord; "remaining" never reaches zero so clients
    # never pre-emptively sleep unless a test injects a 429.
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": f"{zlib.crc32(template.encode()):08x}",
    }


class RestApi:
    """The aiohttp handler for everything below ``/api/v10``."""

    def __init__(
        self,
        *,
        token: str,
        router: Router,
        faults: FaultPlan,
        calls: Journal[RestCall],
        throttle: Throttle | None = None,
    ) -> None:
        self._throttle = throttle
        self._token = token
        self._router = router
        self._faults = faults
        self._calls = calls

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(API_PREFIX) :] or "/"
        method = request.method
        body, files = await self._parse_body(request)
        call = RestCall(
            method=method,
            path=path,
            query=dict(request.query),
            json=body,
            headers=interesting_headers(request.headers),
            files=[f.filename for f in files],
        )
        route, params, path_known = self._router.match(method, path)
        call.route = route.template if route else None
        status, payload, headers = await self._answer(request, call, route, params, path_known, body, files)
        call.status, call.response = status, payload
        if call.answer_lost:
            # Applied, but the answer never arrives: the client sees the connection closed.
            self._calls.append(call)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=204)
        if status == 204:
            response = web.Response(status=204, headers=headers)
        else:
            # Exactly "application/json": discord.py compares the header verbatim and treats
            # anything else (aiohttp's default adds "; charset=utf-8") as plain text.
            response = web.Response(
                body=_dumps(payload).encode("utf-8"),
                status=status,
                headers={**headers, "Content-Type": "application/json"},
            )
        # Record only once the answer is on the wire, so a test woken by the journal never closes
        # the client while the response it is about to assert on is still unsent.
        await response.prepare(request)
        await response.write_eof()
        self._calls.append(call)
        return response

    async def _answer(
        self,
        request: web.Request,
        call: RestCall,
        route: _Route | None,
        params: dict[str, str],
        path_known: bool,
        body: Any,
        files: list[UploadedFile],
    ) -> tuple[int, Any, dict[str, str]]:
        headers = _normal_rate_limit_headers(route.template if route else call.path)
        authenticated = route.authenticated if route else True
        if authenticated and request.headers.get("Authorization") != f"Bot {self._token}":
            return 401, discord_error(0, "401: Unauthorized"), headers
        limited = self._throttle.answer(authenticated=authenticated) if self._throttle else None
        if limited is not None:
            status, payload, extra = limited
            return status, payload, {**headers, **extra}
        fault = self._faults.take(call.method, call.path, call.route)
        if fault is not None and not fault.after_applying:
            return fault.status, fault.body, {**headers, **fault.headers}
        if fault is not None:
            call.answer_lost = True
        if route is None:
            if path_known:
                return 405, discord_error(0, "405: Method Not Allowed"), headers
            return 404, discord_error(0, "404: Not Found"), headers
        rest_request = RestRequest(
            call.method, call.path, params, request.query, body, files, dict(request.headers)
        )
        try:
            reply = await route.handler(rest_request)
        except ApiError as error:
            return error.status, error.body, headers
        except FormError as error:
            return 400, error.body(), headers
        except DiscordStateError as error:
            return error.status, discord_error(error.code, error.message), headers
        return reply.status, reply.body, headers

    @staticmethod
    async def _parse_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
        """JSON bodies, or multipart with ``payload_json`` and ``files[n]`` (discord.py uploads)."""
        if not request.can_read_body:
            return None, []
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                elif part.filename is not None:
                    files.append(
                        UploadedFile(
                            part.name or "",
                            part.filename,
                            part.headers.get("Content-Type"),
                            bytes(await part.read()),
                        )
                    )
            return body, files
        text = await request.text()
        if not text:
            return None, []
        try:
            return json.loads(text), []
        except ValueError:
            return text, []


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
