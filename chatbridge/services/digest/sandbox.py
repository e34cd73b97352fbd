"""Digest templates in Jinja2's sandbox, and admins' own templates in a locked-down child process.

Every digest template, the bundled one included, renders in a `SandboxedEnvironment` with the
same escaping rule as the rest of the bot (every `{{ value }}` is Markdown-escaped and stripped of
mentions unless a filter built it) and with its output bounded: rendering streams and stops once
the limit is passed. The sandbox blocks `__class__`/`__globals__` style attribute access, and the
loader cannot reach a file outside the templates directory.

The sandbox does not bound memory or CPU (Jinja2 says so itself: a template can still build huge
strings or loop for ever), and Jinja2 even evaluates constant expressions while compiling. So a
template an admin supplied is compiled *and* rendered in a child process (`python -m
chatbridge.services.digest.sandbox`) that gets only the digest's data as JSON, no environment
variables (no tokens, no database URL), an address-space limit, a CPU limit and an alarm, and is
killed by the parent if it still overstays. Whatever goes wrong comes back as a `TemplateProblem`
naming the template file and line, and the caller falls back to the bundled template.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Generator, Mapping
from importlib.resources import files
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, cast

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from chatbridge.forum.humanize import plural
from chatbridge.render.escape import escape_user_text, neutralise_mentions
from chatbridge.render.templates import Trusted, finalizer

__all__ = [
    "DEFAULT_TEMPLATE",
    "DigestEnvironment",
    "TemplateProblem",
    "bundled_environment",
    "check_in_child",
    "render_in_child",
    "render_template",
]

DEFAULT_TEMPLATE = "digest/weekly.md.j2"
CHILD_MEMORY_BYTES = 256 * 1024 * 1024
_BLANK_RUNS = re.compile(r"\n{3,}")
_SAFE_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_MAX_REPEAT_INT_BITS = 4096


class TemplateProblem(Exception):
    """A digest template that cannot be used as it is; says which file and line, when known."""

    def __init__(self, message: str, template: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.template = template
        self.line = line

    def __str__(self) -> str:
        where = ", ".join(
            part for part in (self.template, f"line {self.line}" if self.line else None) if part
        )
        return f"{where}: {self.message}" if where else self.message


class _TimeUp(Exception):
    """Raised in the child by its alarm, inside whatever template code is running."""


def _link(url: object, label: object) -> Trusted:
    """`[label](<url>)` for an http(s) URL; just the (escaped) label for anything else."""
    text = escape_user_text(str(label))
    if not isinstance(url, str) or not _SAFE_URL.fullmatch(url):
        return Trusted(text)
    return Trusted(f"[{text}](<{url}>)")


def _number(value: object) -> Trusted:
    if isinstance(value, int) and not isinstance(value, bool):
        return Trusted(f"{value:,}")
    return Trusted(escape_user_text(str(value)))


def _plural(value: object, one: object, many: object) -> Trusted:
    """ "1 reply", "14 replies"; the nouns are escaped too, a template may pass anything there."""
    if not isinstance(value, int) or isinstance(value, bool):
        return Trusted(escape_user_text(str(value)))
    return Trusted(plural(value, escape_user_text(str(one)), escape_user_text(str(many))))


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses a file whose real path leaves its directory (symlinks)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        real = os.path.realpath(filename)
        if not any(real.startswith(os.path.realpath(root) + os.sep) for root in self.searchpath):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


class DigestEnvironment(SandboxedEnvironment):
    """The sandbox with the bot's escaping, its filters, strict variables and clear size errors."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, loader: jinja2.BaseLoader, max_chars: int) -> None:
        super().__init__(
            loader=loader,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            finalize=finalizer(escape_user_text),
            auto_reload=False,
        )
        self.max_chars = max_chars
        self.filters.update(link=_link, number=_number, plural=_plural)
        self.globals.pop("lipsum", None)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        """`"x" * 10**9` and `9**9**9` fail at once with a clear message instead of eating memory."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > self.max_chars
                ):
                    raise SecurityError(f"repeating a value {times:,} times makes it too long")
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and max(left.bit_length(), 1) * right > _MAX_REPEAT_INT_BITS
        ):
            raise SecurityError("that power is too large")
        return super().call_binop(context, operator, left, right)


def bundled_dir() -> Path:
    return Path(str(files("chatbridge.templates")))


def bundled_environment(max_chars: int) -> DigestEnvironment:
    """The environment of the bundled digest templates (rendered in-process: they are ours)."""
    return DigestEnvironment(jinja2.FileSystemLoader(str(bundled_dir())), max_chars)


def _custom_environment(templates_dir: Path, max_chars: int) -> DigestEnvironment:
    """Admins' directory first; the bundled templates after it, so `{% extends %}` of ours works."""
    loader = jinja2.ChoiceLoader([_ConfinedLoader(str(templates_dir)), _ConfinedLoader(str(bundled_dir()))])
    return DigestEnvironment(loader, max_chars)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return neutralise_mentions(_BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip())


def render_template(env: DigestEnvironment, name: str, context: Mapping[str, Any]) -> str:
    """Render `name`, stopping as soon as the output passes `env.max_chars`.

    Raises `TemplateProblem` for anything that goes wrong, with the template file and line.
    """
    try:
        template = env.get_template(name)
        chunks: list[str] = []
        total = 0
        # Template.generate is a generator function; its annotation only promises an Iterator.
        stream = cast(Generator[str, None, None], template.generate(context))
        try:
            for chunk in stream:
                total += len(chunk)
                if total > env.max_chars:
                    where = _suspended_at(stream)
                    raise TemplateProblem(
                        f"it writes more than {env.max_chars:,} characters, so it was stopped", *where
                    )
                chunks.append(chunk)
        finally:
            stream.close()
    except TemplateProblem:
        raise
    except jinja2.TemplateSyntaxError as error:
        raise TemplateProblem(
            error.message or "syntax error", _short_name(error.filename, error.name), error.lineno
        ) from None
    except Exception as error:  # everything a template can do wrong, reported to its author
        raise TemplateProblem(_describe(error), *_failed_at(error.__traceback__)) from None
    return _tidy("".join(chunks))


def _describe(error: Exception) -> str:
    if isinstance(error, _TimeUp):
        return "it took too long, so it was stopped"
    if isinstance(error, MemoryError):
        return "it needed too much memory, so it was stopped"
    if isinstance(error, RecursionError):
        return "it recursed too deeply"
    if isinstance(error, jinja2.TemplateNotFound):
        return f"there is no template {error.name!r} in the templates directory"
    message = str(error) or type(error).__name__
    return (
        message
        if isinstance(error, jinja2.TemplateError | SecurityError)
        else (f"{type(error).__name__}: {message}")
    )


def _short_name(filename: str | None, name: str | None = None) -> str | None:
    """A template's name as its author knows it, never the server's directory layout."""
    if name:
        return name
    return Path(filename).name if filename else None


def _failed_at(tb: TracebackType | None) -> tuple[str | None, int | None]:
    """The innermost template line in a traceback (Jinja2 rewrites template frames to their lines)."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        template = frame_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            found = (template.name, template.get_corresponding_lineno(tb.tb_lineno))
        elif "__jinja_exception__" in frame_globals:
            found = (_short_name(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _suspended_at(stream: Generator[str, None, None]) -> tuple[str | None, int | None]:
    """Where a streaming template is paused: the line that wrote past the limit."""
    inner: Any = stream
    while getattr(inner, "gi_yieldfrom", None) is not None:
        inner = inner.gi_yieldfrom
    frame: FrameType | None = getattr(inner, "gi_frame", None)
    template = frame.f_globals.get("__jinja_template__") if frame is not None else None
    if frame is None or not isinstance(template, jinja2.Template):
        return (None, None)
    return (template.name, template.get_corresponding_lineno(frame.f_lineno))


# --------------------------------------------------------------------------- the child process


def _child_command() -> list[str]:
    # -P: the working directory is not importable; -s: no user site-packages.
    return [sys.executable, "-P", "-s", "-m", "chatbridge.services.digest.sandbox"]


def _child_environment() -> dict[str, str]:
    """Only what Python needs to import chatbridge: no token, password or database URL."""
    path = os.pathsep.join(p for p in sys.path if p and os.path.isabs(p))
    return {"PATH": os.defpath, "PYTHONPATH": path, "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def _ask_child(request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    try:
        completed = subprocess.run(
            _child_command(),
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=timeout + 5,
            env=_child_environment(),
            cwd=request["templates_dir"],
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TemplateProblem("it took too long, so it was stopped", request["template"]) from None
    try:
        reply: dict[str, Any] = json.loads(completed.stdout)
    except ValueError:
        reason = "it needed too much memory or time" if completed.returncode < 0 else "it crashed"
        raise TemplateProblem(f"{reason}, so it was stopped", request["template"]) from None
    if "error" in reply:
        raise TemplateProblem(reply["error"], reply.get("template"), reply.get("line"))
    return reply


def render_in_child(
    templates_dir: Path, name: str, context: Mapping[str, Any], *, max_chars: int, timeout: float
) -> str:
    """Render an admin's template in the locked-down child; raises TemplateProblem."""
    request = {
        "templates_dir": str(templates_dir.resolve()),
        "template": name,
        "context": context,
        "max_chars": max_chars,
        "timeout": timeout,
    }
    markdown = _ask_child(request, timeout)["markdown"]
    if not isinstance(markdown, str):
        raise TemplateProblem("it produced no text", name)
    return _tidy(markdown[:max_chars])


def check_in_child(
    templates_dir: Path, name: str, context: Mapping[str, Any], *, max_chars: int, timeout: float
) -> TemplateProblem | None:
    """A trial render, so a moderator hears about a broken template when choosing it."""
    try:
        render_in_child(templates_dir, name, context, max_chars=max_chars, timeout=timeout)
    except TemplateProblem as problem:
        return problem
    return None


def _limit_resources(timeout: float) -> None:
    """Address space and CPU for the child; the alarm raises inside the template for a line number."""
    try:
        import resource
    except ImportError:  # not on this platform: the parent's timeout still applies
        return
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    cpu = math.ceil(timeout) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

    def time_up(signum: int, frame: FrameType | None) -> None:
        raise _TimeUp

    signal.signal(signal.SIGALRM, time_up)
    signal.setitimer(signal.ITIMER_REAL, timeout)


def _child_main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    _limit_resources(float(request["timeout"]))
    env = _custom_environment(Path(request["templates_dir"]), int(request["max_chars"]))
    try:
        reply: dict[str, Any] = {"markdown": render_template(env, request["template"], request["context"])}
    except TemplateProblem as problem:
        reply = {"error": problem.message, "template": problem.template, "line": problem.line}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.buffer.write(json.dumps(reply).encode())
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
