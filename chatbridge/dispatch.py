"""Event -> command spec -> permission check -> handler -> rendered reply, for every platform.

Plain chat events (messages, edits, reactions, joins) go to the ingestor, which applies them to the
store idempotently; commands run their handler inside one store transaction that also records the
platform event id, so a redelivered command is answered once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from sqlmodel import Session

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import InputError, quote_input
from chatbridge.model import (
    ChatEvent,
    CommandInvoked,
    MessagePosted,
    MessageRef,
    OutgoingMessage,
    Privilege,
)
from chatbridge.platform import EventSink, Outcome, Platform
from chatbridge.registry import CommandSpec, ParsedCommand, Syntax, UsageError, convert_options, syntax_for
from chatbridge.services import directory
from chatbridge.services.ingest import EventRefused, Notice, StoreUnavailable, first_delivery
from chatbridge.services.moderation import mute_gate
from chatbridge.store.engine import DATABASE_UNAVAILABLE
from chatbridge.wellformed import repaired

if TYPE_CHECKING:
    from chatbridge.core import Core

log = logging.getLogger(__name__)

GARBLED = (
    "Part of that command arrived as a broken character that I can't read, so I did nothing. "
    "Please type it again."
)
APOLOGY = "Sorry, something went wrong on my side and nothing was changed. The error has been logged."


class Dispatcher:
    """Routes neutral events from any platform into the forum core."""

    def __init__(self, core: Core) -> None:
        self.core = core
        # One command transaction at a time on this event loop. A handler may await the platform
        # (create a Discord forum post) inside its transaction; a second command opening its own
        # on the same thread would then wait for the database lock synchronously, freezing the
        # loop the first one needs to finish: a deadlock until the busy timeout. Waiting here
        # instead costs a few milliseconds per command and never blocks the loop.
        self._turn = asyncio.Lock()

    def sink_for(self, platform: Platform) -> EventSink:
        async def sink(event: ChatEvent) -> Outcome:
            return await self.handle(event, platform)

        return sink

    async def handle(self, event: ChatEvent, platform: Platform) -> Outcome:
        """Apply one event and say what became of it; never raises for bad input, so an
        adapter's loop keeps running, and knows whether its position may move past the event."""
        command: CommandInvoked | None = None
        try:
            clean = repaired(event)
            command = self._as_command(clean)
            if command is not None:
                if clean is not event and _garbled(self._as_command(event), command):
                    await self._answer(command, platform, _refusal(event.event_id, GARBLED))
                    return Outcome.REFUSED
                await self._run_command(command, platform)
                return Outcome.APPLIED
            notices = await self.core.ingestor.submit(clean)
        except (StoreUnavailable, *DATABASE_UNAVAILABLE):
            return self._unavailable(event, command)
        except EventRefused:
            return Outcome.REFUSED  # logged once by the ingestor
        except Exception as error:
            log.error(
                "could not handle %s %s (%s); skipped",
                type(event).__name__,
                event.event_id,
                type(error).__name__,
            )
            return Outcome.REFUSED
        for notice in notices:
            await self._deliver(notice, platform)
        return Outcome.APPLIED

    def _unavailable(self, event: ChatEvent, command: CommandInvoked | None) -> Outcome:
        """The store is down: nothing was stored, and the adapter keeps the event to deliver it
        again (a command is then answered once, when it runs) or, if it never delivers it again
        (a Discord interaction), tells the member plainly to try again."""
        # Plain events: the ingestor has logged the outage once for their whole batch.
        level = logging.WARNING if command is not None else logging.DEBUG
        log.log(level, "the store is unavailable; %s %s is held", type(event).__name__, event.event_id)
        return Outcome.UNAVAILABLE

    def _as_command(self, event: ChatEvent) -> CommandInvoked | None:
        if isinstance(event, CommandInvoked):
            return event
        if isinstance(event, MessagePosted) and not event.actor.is_bot:
            body = self.core.registry.strip_prefix(event.text)
            if body is None:
                return None
            target = None
            if event.reply_to is not None:
                target = MessageRef(
                    event.room.platform,
                    event.room.room_id,
                    event.reply_to,
                    event.thread_id,
                    event.room.community_id,
                )
            return CommandInvoked(
                event_id=event.event_id,
                at=event.at,
                room=event.room,
                actor=event.actor,
                raw=body,
                thread_id=event.thread_id,
                target=target,
            )
        return None

    async def _deliver(self, notice: Notice, platform: Platform) -> None:
        try:
            if notice.reply_to is not None:
                await platform.respond(notice.reply_to, notice.message)
            else:
                await platform.send(
                    notice.room, notice.message, thread_id=notice.thread_id, idempotency_key=notice.key
                )
        except Exception:
            log.exception("could not deliver a notice to %s", notice.room.room_id)

    async def _run_command(self, event: CommandInvoked, platform: Platform) -> None:
        try:
            parsed = self._parse(event)
        except UsageError as error:
            await self._answer(event, platform, _concealed(error.spec, self._usage_reply(error, event)))
            return
        notices: list[Notice] = []
        reply = await self._execute(event, parsed, platform, notices)
        if reply is not None:
            await self._answer(event, platform, _concealed(parsed.spec, reply))
        for notice in notices:
            await self._deliver(notice, platform)

    def _parse(self, event: CommandInvoked) -> ParsedCommand:
        registry = self.core.registry
        if event.raw is not None:
            return registry.parse(event.raw)
        spec = registry.specs.get(event.path)
        if spec is None:
            raise UsageError(f"I don't know the command {quote_input(' '.join(event.path))}.")
        return ParsedCommand(spec, convert_options(spec, event.options))

    async def _execute(
        self, event: CommandInvoked, parsed: ParsedCommand, platform: Platform, notices: list[Notice]
    ) -> OutgoingMessage | None:
        async with self._turn:
            return await self._execute_alone(event, parsed, platform, notices)

    async def _execute_alone(
        self, event: CommandInvoked, parsed: ParsedCommand, platform: Platform, notices: list[Notice]
    ) -> OutgoingMessage | None:
        spec = parsed.spec
        prefix = self.core.registry.prefixes[0]
        with Session(self.core.engine, expire_on_commit=False) as session:
            try:
                if not first_delivery(session, event):
                    return None
                ctx = self._context(session, event, spec, platform)
                muted = self._muted_refusal(ctx, spec, event)
                if muted is not None:
                    session.commit()
                    return _error_reply(muted)
                if ctx.privilege < spec.privilege:
                    session.commit()
                    named = self.core.registry.invocation(spec, _syntax(event), full=False)
                    return _refusal(event.event_id, f"`{named}` is for {spec.privilege.name.lower()}s.")
                if spec.needs_target_message and event.target is None:
                    session.commit()
                    if event.direct:
                        return _refusal(
                            event.event_id,
                            f"Here, paste the link to the message you mean after `{prefix}{spec.name}` "
                            "(in Element: the message's Options, Share, Copy link).",
                        )
                    return _refusal(
                        event.event_id, f"Use `{prefix}{spec.name}` as a reply to the message you mean."
                    )
                reply = await spec.handler(ctx, **parsed.options)
                session.commit()
                notices.extend(ctx.notices)
            except (CommandError, InputError) as error:
                session.rollback()
                self._record_delivery(event)
                return _refusal(event.event_id, str(error.args[0]) if error.args else "That didn't work.")
            except UsageError as error:
                session.rollback()
                self._record_delivery(event)
                error.spec = error.spec or spec
                return self._usage_reply(error, event)
            except DATABASE_UNAVAILABLE:
                session.rollback()
                raise  # nothing was stored: `handle` says so, and the command runs when redelivered
            except Exception:
                session.rollback()
                log.exception("command %r failed", spec.name)
                return _error_reply(APOLOGY)
        if isinstance(reply, str):
            return OutgoingMessage(reply, ephemeral=spec.ephemeral)
        return reply if isinstance(reply, OutgoingMessage) else None

    def _muted_refusal(self, ctx: Context, spec: CommandSpec, event: CommandInvoked) -> str | None:
        """A muted member (moderators included) gets only the commands declared
        `allowed_while_muted`; everything else is one polite line saying until when, and how to
        appeal."""
        if spec.allowed_while_muted:
            return None
        return mute_gate.check(self.core, ctx.session, ctx.member, ctx.now, _syntax(event))

    def _usage_reply(self, error: UsageError, event: CommandInvoked) -> OutgoingMessage:
        if error.spec is None:
            return _refusal(event.event_id, error.message)
        usage = self.core.registry.invocation(error.spec, _syntax(event))
        return _refusal(event.event_id, f"{error.message}\nUsage: `{usage}`")

    def _record_delivery(self, event: CommandInvoked) -> None:
        """A refused command is still answered only once if the platform delivers it again."""
        with Session(self.core.engine) as session:
            first_delivery(session, event)
            session.commit()

    def _context(
        self, session: Session, event: CommandInvoked, spec: CommandSpec, platform: Platform
    ) -> Context:
        now = self.core.clock()
        if event.direct:  # a direct chat is no sub-forum: only its community counts
            community = directory.resolve_community(session, event.room.platform, event.room.community_id)
            place = directory.Place(community, None)
        else:
            place = directory.resolve_place(session, event.room, now)
        member = directory.resolve_member(session, place.community, event.actor, now)
        return Context(
            core=self.core,
            platform=platform,
            event=event,
            spec=spec,
            session=session,
            community=place.community,
            member=member,
            subforum=place.subforum,
            thread=directory.find_thread(session, event.room.platform, event.thread_id),
            privilege=self.core.privilege_of(event.actor),
            now=now,
        )

    async def _answer(self, event: CommandInvoked, platform: Platform, reply: OutgoingMessage) -> None:
        try:
            await platform.respond(event, reply)
        except Exception:
            log.exception("could not answer command %s", event.event_id)


def _garbled(sent: CommandInvoked | None, read: CommandInvoked) -> bool:
    """True when the command's own words held a broken character, not just the sender's name."""
    return sent is None or sent.raw != read.raw or sent.options != read.options


def _refusal(event_id: str, message: str) -> OutgoingMessage:
    """The answer to a command that was not carried out as asked, logged by id only (what the
    member typed may hold patient details), so refusals can be counted and told from answers."""
    log.debug("refused command %s", event_id)
    return _error_reply(message)


def _error_reply(message: str) -> OutgoingMessage:
    return OutgoingMessage(markdown=message, ephemeral=True)


def _concealed(spec: CommandSpec | None, reply: OutgoingMessage) -> OutgoingMessage:
    """Every answer to a command whose words are for the moderators (a report, even a refused
    one) asks the platform to hide the command from the others in the room."""
    if spec is None or not spec.conceal:
        return reply
    return dataclasses.replace(reply, conceal_invocation=True)


def _syntax(event: CommandInvoked) -> Syntax:
    """Answer in the syntax the member used: typed text, or a slash command, menu or button."""
    return "typed" if event.raw is not None else syntax_for(event.room.platform)


__all__ = ["APOLOGY", "GARBLED", "Dispatcher", "Privilege"]
