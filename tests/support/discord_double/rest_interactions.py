"""Application commands, interaction callbacks, and the interaction webhook (followups, @original).

https://discord.com/developers/docs/interactions/receiving-and-responding
https://discord.com/developers/docs/interactions/application-commands

Callback and webhook routes are unauthenticated on Discord (the token in the path is the
credential); discord.py sends them without an Authorization header, and so does this double.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import events, payloads
from . import interactions as ix
from .command_rules import check_upload
from .component_rules import check_modal
from .deadlines import check_first_response, check_token
from .payloads import EPHEMERAL_FLAG, LOADING_FLAG, JsonObject
from .rest_app import NO_CONTENT, ApiError, Reply, RestRequest, Router, invalid_form
from .rest_common import Dispatcher, apply_message_edit, upload_attachments, validate_message_body
from .state import CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND, DEFAULT_MESSAGE, InteractionState, World

# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-interaction-callback-type
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9

_ALLOWED_CALLBACKS: Mapping[int, frozenset[int]] = MappingProxyType(
    {
        ix.APPLICATION_COMMAND: frozenset({4, 5, 9}),
        ix.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
        ix.APPLICATION_COMMAND_AUTOCOMPLETE: frozenset({8}),
        ix.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
    }
)


class InteractionRoutes:
    def __init__(self, world: World, dispatch: Dispatcher) -> None:
        self.world = world
        self.dispatch = dispatch

    def register(self, router: Router) -> None:
        for scope in (
            "/applications/{application_id}/commands",
            "/applications/{application_id}/guilds/{guild_id}/commands",
        ):
            router.add("GET", scope, self.list_commands)
            router.add("PUT", scope, self.overwrite_commands)
        router.add(
            "POST", "/interactions/{interaction_id}/{token}/callback", self.callback, authenticated=False
        )
        hook = "/webhooks/{application_id}/{token}"
        router.add("POST", hook, self.create_followup, authenticated=False)
        for target in ("@original", "{message_id}"):
            router.add("GET", f"{hook}/messages/{target}", self.get_webhook_message, authenticated=False)
            router.add("PATCH", f"{hook}/messages/{target}", self.edit_webhook_message, authenticated=False)
            router.add(
                "DELETE", f"{hook}/messages/{target}", self.delete_webhook_message, authenticated=False
            )

    # -- commands --------------------------------------------------------------------------

    def _check_application(self, request: RestRequest) -> int | None:
        if request.id("application_id") != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        return request.id("guild_id") if "guild_id" in request.params else None

    async def list_commands(self, request: RestRequest) -> Reply:
        return Reply(200, list(self.world.commands.get(self._check_application(request), [])))

    async def overwrite_commands(self, request: RestRequest) -> Reply:
        """Bulk Overwrite: stores the commands, assigns ids, returns them like Discord."""
        guild_id = self._check_application(request)
        if guild_id is not None:
            self.world.guild(guild_id)
        if not isinstance(request.json, list):
            raise ApiError(400, 50035, "Invalid Form Body")
        check_upload(request.json)
        names = [(c.get("name"), c.get("type", 1)) for c in request.json]
        if len(set(names)) != len(names):
            raise invalid_form(
                "_errors", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        return Reply(200, self.world.overwrite_commands(guild_id, request.json))

    # -- callback --------------------------------------------------------------------------

    def _interaction(self, request: RestRequest) -> InteractionState:
        state = self.world.interactions.get(request.id("interaction_id"))
        if state is None or state.token != request.params["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        return state

    def _response_message_type(self, state: InteractionState) -> int:
        if state.type == ix.APPLICATION_COMMAND:
            command_type = state.payload["data"].get("type", ix.CHAT_INPUT)
            return CHAT_INPUT_COMMAND if command_type == ix.CHAT_INPUT else CONTEXT_MENU_COMMAND
        return DEFAULT_MESSAGE

    def _new_response_message(
        self, state: InteractionState, body: Mapping[str, Any], request: RestRequest, *, extra_flags: int = 0
    ) -> JsonObject:
        """A message authored by the app through the interaction webhook.

        Ephemeral messages never enter channel history (they are only visible to the invoker),
        so they are kept on the interaction instead.
        """
        flags = int(body.get("flags") or 0) | extra_flags
        ephemeral = bool(flags & EPHEMERAL_FLAG)
        message = self.world.create_message(
            state.channel_id,
            self.world.bot_id,
            body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=upload_attachments(self.world, state.channel_id, request.files),
            allowed_mentions=body.get("allowed_mentions"),
            flags=flags,
            tts=bool(body.get("tts", False)),
            message_type=self._response_message_type(state),
            webhook_id=self.world.application_id,
            application_id=self.world.application_id,
            interaction_metadata=payloads.interaction_metadata(
                state.id, state.type, state.user, guild_id=state.guild_id, name=state.name
            ),
            store=not ephemeral,
        )
        if ephemeral:
            state.ephemeral_messages[int(message["id"])] = message
        return message

    async def _announce(self, message: JsonObject, *, created: bool) -> None:
        if message["flags"] & EPHEMERAL_FLAG:
            return
        if created:
            await self.dispatch("MESSAGE_CREATE", self.world.message_create_event(message))
        else:
            await self.dispatch("MESSAGE_UPDATE", self.world.message_update_event(message))

    async def callback(self, request: RestRequest) -> Reply:
        state = self._interaction(request)
        body = request.body()
        callback_type = body.get("type")
        check_first_response(state, self.world.clock)
        if state.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if callback_type not in _ALLOWED_CALLBACKS.get(state.type, frozenset()):
            raise invalid_form(
                "type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type"
            )
        data: dict[str, Any] = body.get("data") or {}
        resource: JsonObject | None = None
        message: JsonObject | None = None
        if callback_type == CHANNEL_MESSAGE_WITH_SOURCE:
            validate_message_body(data, request.files, creating=True)
            message = self._new_response_message(state, data, request)
            state.original_message_id = int(message["id"])
            await self._announce(message, created=True)
        elif callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            message = self._new_response_message(
                state, {"flags": data.get("flags")}, request, extra_flags=LOADING_FLAG
            )
            state.original_message_id = int(message["id"])
            await self._announce(message, created=True)
        elif callback_type == MODAL:
            check_modal(data)
        elif callback_type in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            if state.source_message_id is None:
                raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID", "No message to update")
            state.original_message_id = state.source_message_id
            if callback_type == UPDATE_MESSAGE:
                message = self.world.message(state.channel_id, state.source_message_id)
                apply_message_edit(self.world, message, data, request.files)
                await self._announce(message, created=False)
        state.responses.append({"type": callback_type, "data": data})
        if state.first_response_at is None:
            state.first_response_at = self.world.clock.now()
        if callback_type in (
            CHANNEL_MESSAGE_WITH_SOURCE,
            DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            UPDATE_MESSAGE,
        ):
            resource = {"type": callback_type}
            if message is not None and callback_type != DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
                resource["message"] = self.world.render_message(message)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return NO_CONTENT
        return Reply(200, self._callback_response(state, callback_type, message, resource))

    def _callback_response(
        self,
        state: InteractionState,
        callback_type: int,
        message: JsonObject | None,
        resource: JsonObject | None,
    ) -> JsonObject:
        """https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-callback-interaction-callback-response-object"""
        interaction: JsonObject = {"id": str(state.id), "type": state.type}
        if message is not None:
            interaction["response_message_id"] = message["id"]
            interaction["response_message_loading"] = callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            interaction["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL_FLAG)
        body: JsonObject = {"interaction": interaction}
        if resource is not None:
            body["resource"] = resource
        return body

    # -- interaction webhook ---------------------------------------------------------------

    def _hook_interaction(self, request: RestRequest) -> InteractionState:
        if request.id("application_id") != self.world.application_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        state = self.world.interaction_by_token(request.params["token"])
        check_token(state, self.world.clock)
        return state

    @staticmethod
    def _requested_message_id(state: InteractionState, request: RestRequest) -> int | None:
        if request.path.endswith("/@original"):
            return state.original_message_id
        message_id = request.id("message_id")
        if message_id not in state.followup_ids and message_id != state.original_message_id:
            raise ApiError(404, 10008, "Unknown Message")
        return message_id

    def _message(self, state: InteractionState, message_id: int | None) -> JsonObject:
        if message_id is None:
            raise ApiError(404, 10008, "Unknown Message")
        if message_id in state.ephemeral_messages:
            return state.ephemeral_messages[message_id]
        return self.world.message(state.channel_id, message_id)

    def _hook_message(self, state: InteractionState, request: RestRequest) -> JsonObject:
        return self._message(state, self._requested_message_id(state, request))

    async def create_followup(self, request: RestRequest) -> Reply:
        state = self._hook_interaction(request)
        if not state.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        body = request.body()
        validate_message_body(body, request.files, creating=True)
        original = (
            self._message(state, state.original_message_id) if state.original_message_id is not None else None
        )
        if original is not None and original["flags"] & LOADING_FLAG:
            # "directly after ... DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, this endpoint will function
            # as Edit Original Interaction Response"
            original["flags"] &= ~LOADING_FLAG
            apply_message_edit(self.world, original, body, request.files)
            await self._announce(original, created=False)
            return Reply(200, self.world.render_message(original))
        message = self._new_response_message(state, body, request)
        state.followup_ids.append(int(message["id"]))
        await self._announce(message, created=True)
        return Reply(200, self.world.render_message(message))

    async def get_webhook_message(self, request: RestRequest) -> Reply:
        state = self._hook_interaction(request)
        return Reply(200, self.world.render_message(self._hook_message(state, request)))

    async def edit_webhook_message(self, request: RestRequest) -> Reply:
        state = self._hook_interaction(request)
        message = self._hook_message(state, request)
        message["flags"] &= ~LOADING_FLAG
        apply_message_edit(self.world, message, request.body(), request.files)
        await self._announce(message, created=False)
        return Reply(200, self.world.render_message(message))

    async def delete_webhook_message(self, request: RestRequest) -> Reply:
        state = self._hook_interaction(request)
        message = self._hook_message(state, request)
        message_id = int(message["id"])
        if state.ephemeral_messages.pop(message_id, None) is None:
            self.world.delete_message(state.channel_id, message_id)
            await self.dispatch(
                "MESSAGE_DELETE", events.message_delete(message_id, state.channel_id, state.guild_id)
            )
        if message_id == state.original_message_id:
            state.original_message_id = None
        return NO_CONTENT
