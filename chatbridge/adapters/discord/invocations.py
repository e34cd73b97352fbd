"""Interactions into command invocations: slash commands, context menus, buttons, modal submits,
and autocomplete.

`interactions.InteractionDesk` answers them on time; this part turns an interaction into a
`CommandInvoked` for the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import discord
from discord import app_commands
from sqlmodel import Session

from chatbridge.adapters.discord import translate
from chatbridge.adapters.discord.commands import menu_form, press_form
from chatbridge.adapters.discord.interactions import Prepare, button_label, form_modal
from chatbridge.adapters.discord.places import Places
from chatbridge.model import ASK_OPTION, Actor, CommandInvoked, MessageRef, OutgoingMessage
from chatbridge.platform import STORE_UNAVAILABLE_REPLY, Outcome
from chatbridge.registry import CommandSpec, ParamSpec
from chatbridge.services.autocomplete import MAX_CHARS, MAX_SUGGESTIONS, Suggestion, SuggestRequest, suggest
from chatbridge.store.engine import reading

log = logging.getLogger(__name__)


class Invocations(Places):
    """The command tree's handlers (`commands.Handlers`), button presses and form submits."""

    async def invoke(
        self,
        interaction: discord.Interaction,
        spec: CommandSpec,
        options: dict[str, object],
        *,
        target_message: discord.Message | None = None,
        target_user: discord.Member | discord.User | None = None,
    ) -> None:
        """A slash command or context menu, from the command tree."""
        if (target_message or target_user) is not None and spec.context_menu is not None:
            form = menu_form(spec, spec.context_menu.label, options)
            if form is not None:
                target_id = str(target_message.id) if target_message is not None else None
                about = target_message.author if target_message is not None else target_user
                author_id = str(about.id) if about is not None else None
                await interaction.response.send_modal(form_modal(form, target_id, author_id))
                return

        async def prepare() -> CommandInvoked | str | None:
            target, about = None, target_user
            if target_message is not None:
                target = await self._message_ref(
                    target_message.channel.id, target_message.id, target_message.channel
                )
                about = about or target_message.author  # whom a message command is about
            return await self._invocation(
                interaction,
                spec.path,
                options,
                target=target,
                target_user=translate.actor_of(about) if about is not None else None,
            )

        await self._run(interaction, prepare, ephemeral=spec.ephemeral)

    async def pressed(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A button of an `Action` (after a restart too: the custom_id says everything)."""
        decoded = translate.decode_action(custom_id)
        if decoded is None:
            return
        path, options = decoded
        asks = [name for name in options.pop(ASK_OPTION, "").split(",") if name]
        spec = self._registry.specs.get(path) if self._registry is not None else None
        presser = translate.actor_of(interaction.user, permissions=interaction.permissions)
        if asks and spec is not None and self.core.privilege_of(presser) < spec.privilege:
            # No form for someone who may not act; the same words as the dispatcher's refusal.
            await interaction.response.send_message(
                f"`{self.core.registry.prefixes[0]}{spec.name}` is for {spec.privilege.name.lower()}s.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        if asks and spec is not None:
            form = press_form(spec, button_label(interaction, custom_id) or spec.name, options, asks)
            if form is not None:
                source = str(interaction.message.id) if interaction.message is not None else None
                await interaction.response.send_modal(form_modal(form, source))
                return
        message = interaction.message

        async def prepare() -> CommandInvoked | str | None:
            target = None
            if message is not None:
                target = await self._message_ref(message.channel.id, message.id, message.channel)
            return await self._invocation(interaction, path, dict(options), target=target)

        await self._run(interaction, prepare, ephemeral=self._ephemeral(path))

    async def interaction(self, interaction: discord.Interaction) -> None:
        """Modal submits of `Form`s; everything else is routed by discord.py."""
        if interaction.type is not discord.InteractionType.modal_submit or not isinstance(
            interaction.data, dict
        ):
            return
        submission = translate.decode_form(str(interaction.data.get("custom_id", "")))
        if submission is None:
            return
        components = interaction.data.get("components", [])
        options: dict[str, object] = {**submission.options, **translate.form_values(components)}
        channel_id = interaction.channel_id

        async def prepare() -> CommandInvoked | str | None:
            target = None
            if submission.target_message_id is not None and channel_id is not None:
                target = await self._message_ref(
                    channel_id, submission.target_message_id, interaction.channel
                )
            return await self._invocation(
                interaction,
                submission.path,
                options,
                target=target,
                target_user=await self._known_user(interaction.guild, submission.target_user_id),
            )

        await self._run(interaction, prepare, ephemeral=self._ephemeral(submission.path))

    async def _message_ref(self, channel_id: int, message_id: int, channel: object) -> MessageRef | None:
        where = await self._place(channel_id, channel)
        return translate.message_ref(where, message_id) if where is not None else None

    async def _known_user(self, guild: discord.Guild | None, user_id: int | None) -> Actor | None:
        """A user by id as an actor, named (from the cache, else one REST call), or by id only."""
        if user_id is None:
            return None
        user: discord.Member | discord.User | None = guild.get_member(user_id) if guild else None
        if user is None and guild is not None:
            with contextlib.suppress(discord.HTTPException):
                user = await guild.fetch_member(user_id)
        return translate.actor_of(user) if user is not None else translate.unnamed_actor(user_id)

    def _ephemeral(self, path: tuple[str, ...]) -> bool:
        spec = self._registry.specs.get(path) if self._registry is not None else None
        return spec.ephemeral if spec is not None else True

    async def _run(self, interaction: discord.Interaction, prepare: Prepare, *, ephemeral: bool) -> None:
        """Hand the interaction to the desk, whose deadline clock covers `prepare`'s lookups too."""
        if self._closing or self._sink is None:
            return
        await self._desk.run(interaction, prepare, self._command, ephemeral=ephemeral)

    async def _invocation(
        self,
        interaction: discord.Interaction,
        path: tuple[str, ...],
        options: Mapping[str, object],
        *,
        target: MessageRef | None = None,
        target_user: Actor | None = None,
    ) -> CommandInvoked | str:
        """The invocation, or the polite refusal for a channel chatbridge does not serve."""
        place = None
        if interaction.channel_id is not None:
            place = await self._place(interaction.channel_id, interaction.channel)
        if place is None:
            return "chatbridge commands work in the server's channels and threads."
        actor = translate.actor_of(interaction.user, permissions=interaction.permissions)
        self._remember_asker(interaction.user)
        return translate.invocation(
            interaction_id=interaction.id,
            at=interaction.created_at,
            place=place,
            actor=actor,
            path=path,
            options=options,
            target=target,
            target_user=target_user,
        )

    async def _command(self, invocation: CommandInvoked) -> None:
        if self._sink is not None:
            if await self._sink(invocation) is Outcome.UNAVAILABLE:
                # Discord never delivers an interaction again: say so now, once.
                await self._desk.respond(invocation, OutgoingMessage(STORE_UNAVAILABLE_REPLY, ephemeral=True))
                return
            if self._observer is not None:
                self._observer(invocation)

    async def complete(
        self, interaction: discord.Interaction, spec: CommandSpec, param: ParamSpec, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete from the store, answered within Discord's limits (or nothing, if slow)."""
        if interaction.guild_id is None or param.autocomplete is None:
            return []
        if param.autocomplete == "tags":
            return _tag_choices(interaction.channel, current)
        user = interaction.user
        readable = self.readable_rooms(user) if isinstance(user, discord.Member) else frozenset()
        request = SuggestRequest(
            source=param.autocomplete,
            platform=self.name,
            community_platform_id=str(interaction.guild_id),
            current=current,
            options={name: value for name, value in interaction.namespace},
            reads=readable.__contains__,
        )
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(self._suggest, request), self.tuning.autocomplete_timeout
            )
        except TimeoutError:
            log.warning("autocomplete for %s.%s was too slow", spec.name, param.name)
            return []
        return [app_commands.Choice(name=s.name, value=s.value) for s in found]

    def _suggest(self, request: SuggestRequest) -> list[Suggestion]:
        with Session(reading(self.core.engine)) as session:
            return suggest(session, request)


def _tag_choices(channel: object, current: str) -> list[app_commands.Choice[str]]:
    """The forum's tags (from the gateway cache) that fit what is typed after the last comma; each
    choice keeps the tags already typed before it, so several can be picked one after another.

    A command runs in a forum post (a forum itself has no message box), so the forum is the
    post's parent. Moderated tags are left out: see `Verbs.thread_tags`.
    """
    forum = channel.parent if isinstance(channel, discord.Thread) else channel
    if not isinstance(forum, discord.ForumChannel):
        return []
    *before, typing = current.split(",")
    kept = [" ".join(part.split()) for part in before if part.strip()]
    folded = " ".join(typing.split()).casefold()
    taken = {name.casefold() for name in kept}
    names = [t.name for t in forum.available_tags if not t.moderated and t.name.casefold() not in taken]
    ordered = [n for n in names if n.casefold().startswith(folded)]
    ordered += [n for n in names if folded in n.casefold() and n not in ordered]
    choices = []
    for name in ordered[:MAX_SUGGESTIONS]:
        value = ", ".join([*kept, name])
        if len(value) <= MAX_CHARS:
            choices.append(app_commands.Choice(name=value, value=value))
    return choices
