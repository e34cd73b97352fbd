"""Answering interactions on time, buttons that survive restarts, and forms as modals.

Discord gives an interaction three seconds for its first answer, however slow its REST API is at
the moment. `InteractionDesk.run` starts its clock when the interaction arrives: the preparation
(finding the channel's place, a target member: REST calls when they are not cached) and the
core's work both run under it, and if no answer has gone out after `defer_after` seconds it
defers ("thinking…"); the core's answer then edits that placeholder. Everything the
core says about one invocation goes through `respond`, which picks the right call for the state
the interaction is in (first answer, edit of the deferral, followup, modal).

Buttons (`Action`s) are `ActionButton`s: discord.py dynamic items whose custom_id carries the
command and its options, so a click is routed by the custom_id's shape alone and works after a
restart. Modals carry their command the same way (`cb:f:` custom ids) and are routed by the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from chatbridge.adapters.discord import translate
from chatbridge.adapters.discord.tasks import TaskOwner
from chatbridge.model import Action, CommandInvoked, Form, OutgoingMessage

log = logging.getLogger(__name__)

MODAL_TIMEOUT = 15 * 60.0
"""How long discord.py keeps a shown modal in memory; submits are routed by custom_id anyway."""
MAX_BUTTONS = 25
MAX_FIELDS = 5
STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}

Deliver = Callable[[CommandInvoked], Awaitable[None]]
Prepare = Callable[[], Awaitable["CommandInvoked | str | None"]]
"""Builds the invocation (may call REST); a string is a refusal to say privately, None is silence."""


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=translate.ACTION_TEMPLATE
):
    """A forum action button; discord.py recreates it from any message's custom_id after a restart."""

    def __init__(self, button: discord.ui.Button[discord.ui.View]) -> None:
        super().__init__(button)

    @classmethod
    def of(cls, action: Action) -> ActionButton:
        return cls(
            discord.ui.Button(
                label=action.label[:80] or "…",
                style=STYLES.get(action.style, discord.ButtonStyle.secondary),
                custom_id=translate.encode_action(action),
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ActionButton:
        if not isinstance(item, discord.ui.Button):
            raise TypeError(f"an action custom_id on a {type(item).__name__}, not a button")
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        pressed: Callable[[discord.Interaction, str], Awaitable[None]] | None = getattr(
            interaction.client, "pressed", None
        )
        custom_id = self.item.custom_id
        if pressed is not None and custom_id is not None:
            await pressed(interaction, custom_id)


def action_view(actions: Sequence[Action]) -> discord.ui.View | None:
    """The buttons of a message, or None; a view of dynamic items is never held in memory."""
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    for action in actions[:MAX_BUTTONS]:
        view.add_item(ActionButton.of(action))
    return view


def button_label(interaction: discord.Interaction, custom_id: str) -> str | None:
    """The label of the pressed button, read from the message it sits under (a modal it opens is
    titled after it, "Mute author", so the moderator sees what they are about to do)."""
    message = interaction.message
    for row in message.components if message is not None else ():
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                label = getattr(child, "label", None)
                return str(label) if label else None
    return None


def form_modal(
    form: Form, target_message_id: str | None, target_user_id: str | None = None
) -> discord.ui.Modal:
    """A modal whose submit runs `form.path`; its custom_id says so (see translate.encode_form).

    Each text box sits in a Label, the layout Discord documents for modals now (a Text Input in
    an Action Row, with its own label, is deprecated).
    """
    modal = discord.ui.Modal(
        title=form.title[:45] or "…",
        custom_id=translate.encode_form(form, target_message_id, target_user_id),
        timeout=MODAL_TIMEOUT,
    )
    for entry in form.fields[:MAX_FIELDS]:
        limit = min(entry.max_length or 4000, 4000)
        text_input: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
            custom_id=entry.name,
            default=entry.value[:limit] or None,
            required=entry.required,
            style=discord.TextStyle.paragraph if entry.multiline else discord.TextStyle.short,
            max_length=limit,
            placeholder=entry.placeholder[:100] if entry.placeholder else None,
        )
        modal.add_item(discord.ui.Label(text=entry.label[:45] or entry.name, component=text_input))
    return modal


@dataclass
class _Slot:
    """One interaction being answered; the lock keeps the deferral and the answer from racing."""

    interaction: discord.Interaction
    ephemeral: bool
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deferred: bool = False
    answered: bool = False


class InteractionDesk:
    """Interactions in flight, by the event id of their invocation."""

    def __init__(self, owner: TaskOwner, *, defer_after: float) -> None:
        self._owner = owner
        self._defer_after = defer_after
        self._slots: dict[str, _Slot] = {}

    async def run(
        self,
        interaction: discord.Interaction,
        prepare: Prepare,
        deliver: Deliver,
        *,
        ephemeral: bool,
    ) -> None:
        """Prepare and deliver the invocation; defer if nothing has answered within `defer_after`.

        The timer starts before `prepare`, so a lookup stuck behind a rate limit can never hold
        the first answer past Discord's deadline. `ephemeral` is what the deferral's placeholder
        looks like (the command's declared default); an answer of the other kind replaces the
        placeholder instead of editing it.
        """
        slot = _Slot(interaction, ephemeral)
        key = translate.interaction_event_id(interaction.id)
        self._slots[key] = slot
        try:
            work = self._owner.spawn(
                self._prepared(slot, prepare, deliver), name=f"interaction {interaction.id}"
            )
            done, _ = await asyncio.wait({work}, timeout=self._defer_after)
            if not done:
                await self._defer(slot)
                await asyncio.wait({work})
            if slot.deferred and not slot.answered:
                # Nothing to say (a duplicate delivery): don't leave "thinking…" forever.
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()
        finally:
            self._slots.pop(key, None)

    async def _prepared(self, slot: _Slot, prepare: Prepare, deliver: Deliver) -> None:
        prepared = await prepare()
        if isinstance(prepared, str):
            async with slot.lock:
                refusal = OutgoingMessage(markdown=prepared, ephemeral=True)
                rendered = translate.render(refusal)
                await self._say(slot, rendered.chunks[0], rendered, {})
                slot.answered = True
        elif prepared is not None:
            await deliver(prepared)

    async def _defer(self, slot: _Slot) -> None:
        async with slot.lock:
            if slot.answered or slot.interaction.response.is_done():
                return
            try:
                await slot.interaction.response.defer(ephemeral=slot.ephemeral, thinking=True)
                slot.deferred = True
            except discord.HTTPException:
                log.warning("could not defer interaction %s", slot.interaction.id, exc_info=True)

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> bool:
        """Answer through the interaction; False when the invocation did not come from one."""
        slot = self._slots.get(invocation.event_id)
        if slot is None:
            return False
        async with slot.lock:
            await self._answer(slot, invocation, message)
        return True

    async def _answer(self, slot: _Slot, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        interaction = slot.interaction
        if message.form is not None and self._can_show_modal(slot):
            target = invocation.target.message_id if invocation.target is not None else None
            await interaction.response.send_modal(form_modal(message.form, target))
            slot.answered = True
            return
        rendered = translate.render(message)
        chunks = list(rendered.chunks)
        view = action_view(rendered.actions)
        for index, chunk in enumerate(chunks):
            extra: dict[str, Any] = {}
            if view is not None and index == len(chunks) - 1:
                extra["view"] = view
            await self._say(slot, chunk, rendered, extra)
            slot.answered = True

    @staticmethod
    def _can_show_modal(slot: _Slot) -> bool:
        """A modal can only be the first answer, and never the answer to a modal."""
        interaction = slot.interaction
        return (
            not slot.answered
            and not slot.deferred
            and not interaction.response.is_done()
            and interaction.type is not discord.InteractionType.modal_submit
        )

    @staticmethod
    async def _say(slot: _Slot, content: str, rendered: translate.Rendered, extra: dict[str, Any]) -> None:
        interaction = slot.interaction
        mentions = rendered.allowed_mentions
        if not slot.answered and not slot.deferred:
            await interaction.response.send_message(
                content, ephemeral=rendered.ephemeral, allowed_mentions=mentions, **extra
            )
        elif not slot.answered and slot.ephemeral == rendered.ephemeral:
            await interaction.edit_original_response(content=content, allowed_mentions=mentions, **extra)
        else:
            if not slot.answered:
                # The placeholder is of the wrong kind (public vs only-you): replace it.
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()
            await interaction.followup.send(
                content, ephemeral=rendered.ephemeral, allowed_mentions=mentions, wait=True, **extra
            )
