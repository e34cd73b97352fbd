"""The outbox: every platform action the store decided on is written first, then carried out.

A crash, a restart or a rate limit delays an action but never loses or repeats it: the row is
committed in the same transaction as the decision (a report, a mute, a digest claim), the worker
carries it out with an idempotency key derived from the row, and only then marks it done. A
retried row's key says how long ago an earlier try may have done the action (its answer lost),
so that a platform whose deduplication lapses (Discord's nonce window) looks before acting again. What
fails is retried: a rate limit (`RetryLater`) after the wait the platform asks for, as often as it
asks; any other failure with capped exponential back-off, up to `max_attempts` times. A refusal
that retrying cannot change (`PlatformError`: a deleted channel, a missing permission) and an
item that failed `max_attempts` times are set aside (a dead letter, with the platform's error
summary) rather than retried forever; the moderators are told once, and an admin retries or
drops it with `chatbridge outbox`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chatbridge.model import Action, MessageRef, OutgoingMessage, PlatformName, Room
from chatbridge.platform import IdempotencyKey, Platform, PlatformError, RetryLater
from chatbridge.store.engine import reading
from chatbridge.store.tables import OutboxItem
from chatbridge.waiting import wait_event

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
FIRST_BACKOFF = timedelta(seconds=2)
MAX_ATTEMPTS = 8
REASON_CHARS = 500
UNRECORDED = "claimed by a worker; no outcome recorded yet"
"""`last_error` while a row is being tried: still there at the next claim, it means the earlier
try ended without a record (the process stopped mid-action), so that action may have been done."""


Executor = Callable[[Platform, Mapping[str, Any], str], Awaitable[Mapping[str, Any] | None]]
"""Carries out one outbox row: (platform, payload, idempotency key) -> result stored on the row."""

DeadLetterHook = Callable[[Session, OutboxItem, datetime], None]
"""Told, in the transaction that sets an item aside, so that it can queue the moderators' notice."""


def enqueue(
    session: Session,
    *,
    platform: PlatformName,
    kind: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    now: datetime,
    community_id: int | None = None,
    not_before: datetime | None = None,
) -> OutboxItem:
    """Add an action to the outbox, once per `dedupe_key` (a second call returns the first row)."""
    existing = session.exec(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return existing
    item = OutboxItem(
        community_id=community_id,
        platform=platform.value,
        kind=kind,
        payload=dict(payload),
        dedupe_key=dedupe_key,
        created_at=now,
        next_attempt_at=not_before or now,
    )
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:  # another writer enqueued it first
        found = session.exec(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key)).one()
        return found
    return item


def send_payload(room: Room, message: OutgoingMessage, thread_id: str | None = None) -> dict[str, Any]:
    """The payload of a "send" row: plain JSON, so it survives restarts and schema-free storage."""
    return {
        "room": {"community_id": room.community_id, "room_id": room.room_id, "name": room.name},
        "thread_id": thread_id,
        "message": message_payload(message),
    }


async def execute_send(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    room_data, message_data = payload["room"], payload["message"]
    room = Room(platform.name, room_data["community_id"], room_data["room_id"], room_data.get("name", ""))
    message = message_from(message_data)
    ref = await platform.send(room, message, thread_id=payload.get("thread_id"), idempotency_key=key)
    return {"message_id": ref.message_id, "room_id": ref.room_id, "thread_id": ref.thread_id}


def message_payload(message: OutgoingMessage) -> dict[str, Any]:
    """A message as plain JSON for an outbox row, buttons included (they carry no state)."""
    return {
        "markdown": message.markdown,
        "ephemeral": message.ephemeral,
        "mention_user_ids": list(message.mention_user_ids),
        "title": message.title,
        "actions": [
            {"label": a.label, "path": list(a.path), "options": dict(a.options), "style": a.style}
            for a in message.actions
        ],
    }


def message_from(data: Mapping[str, Any]) -> OutgoingMessage:
    return OutgoingMessage(
        markdown=data["markdown"],
        ephemeral=bool(data.get("ephemeral", False)),
        mention_user_ids=tuple(data.get("mention_user_ids", ())),
        title=data.get("title"),
        actions=tuple(
            Action(a["label"], tuple(a["path"]), dict(a.get("options", {})), a.get("style", "secondary"))
            for a in data.get("actions", ())
        ),
    )


def ref_payload(ref: MessageRef) -> dict[str, Any]:
    return {
        "room_id": ref.room_id,
        "message_id": ref.message_id,
        "thread_id": ref.thread_id,
        "community_id": ref.community_id,
    }


def ref_from(platform: Platform, data: Mapping[str, Any]) -> MessageRef:
    return MessageRef(
        platform.name, data["room_id"], data["message_id"], data.get("thread_id"), data.get("community_id")
    )


async def execute_dm(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A private message. A refusal (DMs closed, member gone) is final: retrying cannot fix it."""
    try:
        ref = await platform.send_dm(
            payload["community_id"], payload["user_id"], message_from(payload["message"]), idempotency_key=key
        )
    except RetryLater:
        raise
    except PlatformError as refusal:
        log.info("a direct message to %s was refused: %s", payload["user_id"], refusal)
        return {"refused": str(refusal)}
    return {"message_id": ref.message_id, "room_id": ref.room_id}


async def execute_delete_message(
    platform: Platform, payload: Mapping[str, Any], key: str
) -> Mapping[str, Any]:
    await platform.delete_message(ref_from(platform, payload["ref"]), payload.get("reason", ""))
    return {"deleted": True}


async def execute_apply_mute(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    result = await platform.apply_mute(
        payload["community_id"],
        payload["user_id"],
        datetime.fromisoformat(payload["until"]),
        payload.get("reason", ""),
    )
    return {
        "applied_until": result.applied_until.isoformat() if result.applied_until else None,
        "previous_state": dict(result.previous_state),
    }


async def execute_lift_mute(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    await platform.lift_mute(payload["community_id"], payload["user_id"], payload.get("previous_state") or {})
    return {"lifted": True}


def default_executors() -> dict[str, Executor]:
    """Every outbox kind the core knows how to carry out; features add theirs here.

    These carry out one platform action from a JSON payload and nothing else; moderation wraps
    the mute, deletion and card kinds with what it must record in the store afterwards (see
    `chatbridge.services.moderation.executors`).
    """
    return {
        "send": execute_send,
        "dm": execute_dm,
        "delete_message": execute_delete_message,
        "apply_mute": execute_apply_mute,
        "lift_mute": execute_lift_mute,
    }


@dataclass
class OutboxWorker:
    """Carries out due outbox rows, oldest first; one worker per process and platform set.

    Several processes may share a PostgreSQL store: a row is claimed by moving its next attempt
    into the future in its own transaction before the action runs, so two workers do not run the
    same row at once (and the idempotency key covers the rare case where a claim expires).
    """

    engine: Engine
    platforms: Mapping[PlatformName, Platform]
    clock: Callable[[], datetime]
    executors: Mapping[str, Executor] = field(default_factory=default_executors)
    poll_interval: float = 1.0
    claim_for: timedelta = timedelta(minutes=5)
    batch: int = 50
    max_attempts: int = MAX_ATTEMPTS
    on_dead: DeadLetterHook | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Something was enqueued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            done = await self.drain()
            if done == 0:
                self._wake.clear()
                await wait_event(self._wake, self.poll_interval)

    async def drain(self) -> int:
        """Carry out every row that is due now; returns how many were attempted."""
        attempted = 0
        for item_id, unsure in await asyncio.to_thread(self._claim_due):
            await self._carry_out(item_id, unsure)
            attempted += 1
        return attempted

    def _claim_due(self) -> list[tuple[int, timedelta | None]]:
        """Claim the due rows; each with how long ago an earlier try may have done its action
        (None: never tried), for its idempotency key."""
        now = self.clock()
        names = [p.value for p in self.platforms]
        with Session(self.engine) as session:
            rows = session.exec(
                select(OutboxItem)
                .where(
                    col(OutboxItem.done_at).is_(None),
                    col(OutboxItem.dead_at).is_(None),
                    OutboxItem.next_attempt_at <= now,
                    col(OutboxItem.platform).in_(names),
                )
                .order_by(col(OutboxItem.next_attempt_at), col(OutboxItem.id))
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            claimed: list[tuple[int, timedelta | None]] = []
            for row in rows:
                tried = row.attempts > 0 or row.last_error is not None
                row.next_attempt_at = now + self.claim_for
                # A try that ends without a record (the process died mid-action) leaves this
                # behind, so that the next try knows an earlier one may have done the action.
                row.last_error = row.last_error or UNRECORDED
                if row.id is not None:
                    claimed.append((row.id, now - row.created_at if tried else None))
            session.commit()
            return claimed

    async def _carry_out(self, item_id: int, unsure: timedelta | None) -> None:
        # Read on the event loop's thread: a deferred (reading) transaction never waits for the
        # write lock, which a command's transaction may hold across an await on this same loop.
        with Session(reading(self.engine)) as session:
            item = session.get(OutboxItem, item_id)
            if item is None or item.done_at is not None or item.dead_at is not None:
                return
            kind, payload, platform_name = item.kind, dict(item.payload), PlatformName(item.platform)
        executor = self.executors.get(kind)
        platform = self.platforms[platform_name]
        result: Mapping[str, Any] | None = None
        error: Exception | None = None
        if executor is None:
            error = PlatformError(f"no executor for outbox kind {kind!r}")
        else:
            try:
                result = await executor(platform, payload, IdempotencyKey(f"outbox-{item_id}", unsure))
            except Exception as failure:
                error = failure
        await asyncio.to_thread(self._record, item_id, result, error)

    def _record(self, item_id: int, result: Mapping[str, Any] | None, error: Exception | None) -> None:
        """Mark the item done, or schedule its next attempt, or set it aside (see the module doc).

        A rate-limited try is not counted in `attempts`: the platform said "later", never "no".
        """
        now = self.clock()
        with Session(self.engine) as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            if error is None:
                item.attempts += 1
                item.done_at = now
                item.result = dict(result) if result else None
                item.last_error = None
            else:
                if not isinstance(error, RetryLater):
                    item.attempts += 1
                item.last_error = error_summary(error)
                if isinstance(error, PlatformError) or item.attempts >= self.max_attempts:
                    self._set_aside(session, item, now)
                elif isinstance(error, RetryLater):
                    delay = _backoff(item.attempts, error)
                    item.next_attempt_at = now + delay
                    log.warning(
                        "outbox item %s (%s) must wait, retrying in %s: %s",
                        item_id,
                        item.kind,
                        delay,
                        item.last_error,
                    )
                else:
                    delay = _backoff(item.attempts, error)
                    item.next_attempt_at = now + delay
                    log.warning(
                        "outbox item %s (%s) failed (attempt %d of %d), retrying in %s: %s",
                        item_id,
                        item.kind,
                        item.attempts,
                        self.max_attempts,
                        delay,
                        item.last_error,
                    )
            session.commit()

    def _set_aside(self, session: Session, item: OutboxItem, now: datetime) -> None:
        item.dead_at = now
        item.dead_reason = item.last_error
        log.warning(
            "outbox item %s (%s on %s, community %s) set aside after %d attempt(s): %s",
            item.id,
            item.kind,
            item.platform,
            item.community_id,
            item.attempts,
            item.dead_reason,
        )
        if self.on_dead is not None:
            self.on_dead(session, item, now)


def error_summary(error: Exception) -> str:
    """What went wrong, as the platform said it (a status, an error code), in one bounded line."""
    text = " ".join(str(error).split())
    summary = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return summary[:REASON_CHARS]


def _backoff(attempts: int, error: Exception) -> timedelta:
    if isinstance(error, RetryLater):
        return timedelta(seconds=max(error.retry_after, 0.0))
    return min(FIRST_BACKOFF * (1 << min(attempts - 1, 20)), MAX_BACKOFF)


# -- what an admin sees and does (`chatbridge outbox`) ---------------------------------------------


class OutboxAdminError(Exception):
    """An admin's request about the outbox that cannot be done; the message is one plain line."""


def dead_letters(session: Session) -> list[OutboxItem]:
    """The items set aside and neither retried nor dropped, oldest first."""
    return list(
        session.exec(
            select(OutboxItem)
            .where(col(OutboxItem.dead_at).is_not(None), col(OutboxItem.done_at).is_(None))
            .order_by(col(OutboxItem.dead_at), col(OutboxItem.id))
        ).all()
    )


def _dead_letter(session: Session, item_id: int) -> OutboxItem:
    item = session.get(OutboxItem, item_id)
    if item is None:
        raise OutboxAdminError(f"there is no outbox item {item_id}")
    if item.done_at is not None:
        raise OutboxAdminError(f"outbox item {item_id} is already done")
    if item.dead_at is None:
        raise OutboxAdminError(f"outbox item {item_id} is not set aside: it is still being tried")
    return item


def retry_dead_letter(session: Session, item_id: int) -> OutboxItem:
    """Put a set-aside item back in line, due at once, with its attempts counted from zero.

    Due from the moment it was set aside (the worker's clock), not from this process's clock.
    """
    item = _dead_letter(session, item_id)
    assert item.dead_at is not None
    item.next_attempt_at = item.dead_at
    item.dead_at = None
    item.dead_reason = None
    item.attempts = 0
    log.info("outbox item %s (%s on %s) put back by an admin", item.id, item.kind, item.platform)
    return item


def drop_dead_letter(session: Session, item_id: int, now: datetime) -> OutboxItem:
    """Give up on a set-aside item for good: it is marked done (and kept, so its key is not reused)."""
    item = _dead_letter(session, item_id)
    item.done_at = now
    item.result = {"dropped": "by an admin"}
    log.info("outbox item %s (%s on %s) dropped by an admin", item.id, item.kind, item.platform)
    return item
