"""A forum with a moderators' queue, for the moderation transcripts.

Unlike `support.forum.running_forum`, it exposes the application (to wake the scheduler, or to run
with a stalled outbox) and can be restarted on the same store and the same chat, which is how the
tests prove that mutes and queued actions survive a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from chatbridge.adapters.memory import DEFAULT_SUBFORUMS, MemoryPlatform
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.model import MessageRef, OutgoingMessage, Privilege, Room
from chatbridge.platform import MuteResult, RetryLater
from chatbridge.services.outbox import OutboxWorker
from chatbridge.store.tables import ModCase, OutboxItem

ROOMS = (*DEFAULT_SUBFORUMS, "Moderators", "Admins")
SETTLE_TIMEOUT = 15.0


class StalledOutbox(OutboxWorker):
    """A worker that never carries anything out: the bot "dies" after committing, before acting."""

    async def run(self) -> None:
        await asyncio.Event().wait()


@dataclass
class ThrottledChat(MemoryPlatform):
    """A memory platform that answers its next `throttle` actions with a rate limit (RetryLater)."""

    throttle: int = 0
    retry_after: float = 0.0
    only: frozenset[str] | None = None
    """The verbs to throttle; every action verb when None."""
    throttled: list[str] = field(default_factory=list)

    def _gate(self, verb: str) -> None:
        if self.throttle > 0 and (self.only is None or verb in self.only):
            self.throttle -= 1
            self.throttled.append(verb)
            raise RetryLater(f"{verb}: you are being rate limited", self.retry_after)

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        self._gate("send")
        return await super().send(room, message, thread_id=thread_id, idempotency_key=idempotency_key)

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        self._gate("edit_message")
        await super().edit_message(ref, message)

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        self._gate("delete_message")
        await super().delete_message(ref, reason)

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        self._gate("send_dm")
        return await super().send_dm(community_id, user_id, message, idempotency_key=idempotency_key)

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        self._gate("apply_mute")
        return await super().apply_mute(community_id, user_id, until, reason)

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        self._gate("lift_mute")
        await super().lift_mute(community_id, user_id, previous_state)


@dataclass
class ModForum:
    chat: MemoryPlatform
    core: Core
    app: Application

    @contextmanager
    def store(self) -> Iterator[Session]:
        with Session(self.core.engine, expire_on_commit=False) as session:
            yield session

    async def until(self, check: Callable[[Session], bool], what: str, limit: float = SETTLE_TIMEOUT) -> None:
        """Wait (bounded) until `check` holds in the store; the workers run meanwhile."""
        deadline = time.monotonic() + limit
        while True:
            with self.store() as session:
                if check(session):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Wait until the outbox has carried out (or set aside) everything queued so far."""

        def drained(session: Session) -> bool:
            return not session.exec(
                select(OutboxItem.id).where(
                    col(OutboxItem.done_at).is_(None), col(OutboxItem.dead_at).is_(None)
                )
            ).first()

        await self.until(drained, "the outbox to drain")

    async def sweep(self) -> None:
        """Let the scheduler look at the (advanced) clock now, then wait for what it queued."""
        scheduler = self.app.sanctions
        # A sweep already running may have read the clock before it moved: wait for the next one.
        wanted = scheduler.sweeps + 2
        scheduler.wake()
        await self.until(lambda _: scheduler.sweeps >= wanted, "the scheduler to sweep")
        await self.settle()

    def case(self, case_id: int) -> ModCase:
        with self.store() as session:
            found = session.get(ModCase, case_id)
            assert found is not None
            return found

    def card(self, case_id: int) -> str:
        """The case card as it reads in the queue room now."""
        message_id = self.case(case_id).queue_message_id
        assert message_id is not None, f"case {case_id} has no card"
        return self.chat.message(message_id).text

    def dms(self, name: str) -> str:
        return "\n".join(s.text for s in self.chat.dms(name))

    def in_room(self, room: str) -> list[str]:
        room_id = self.chat.room(room).room_id
        return [s.text for s in self.chat.transcript if s.room.room_id == room_id]


def new_chat(kind: type[MemoryPlatform] = MemoryPlatform) -> MemoryPlatform:
    chat = kind(subforums=ROOMS)
    chat.member("mo", Privilege.MODERATOR)
    chat.member("max", Privilege.MODERATOR)
    chat.member("ada", Privilege.ADMIN)
    return chat


@asynccontextmanager
async def moderated_forum(
    database_url: str,
    *,
    chat: MemoryPlatform | None = None,
    stalled: bool = False,
    pileon: Mapping[str, Any] | None = None,
    **moderation: Any,
) -> AsyncIterator[ModForum]:
    chat = chat or new_chat()
    options: dict[str, Any] = {
        "queue_room": "Moderators",
        "admin_queue_room": "Admins",
        "sweep_seconds": 0.05,
        **moderation,
    }
    core = Core.build(
        Settings(database_url=database_url, moderation=options, pileon=dict(pileon or {})),  # type: ignore[arg-type]
        clock=chat.now,
    )
    app = Application(core, [chat])
    if stalled:
        app.outbox = StalledOutbox(core.engine, app.outbox.platforms, core.clock, app.outbox.executors)
    app.outbox.poll_interval = 0.05
    try:
        async with app.running():
            await chat.started.wait()
            yield ModForum(chat, core, app)
    finally:
        core.engine.dispose()
