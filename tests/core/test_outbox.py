"""The outbox: written first, carried out once, retried until it works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.model import OutgoingMessage, PlatformName
from chatbridge.platform import PlatformError, RetryLater
from chatbridge.services.outbox import OutboxWorker, enqueue, send_payload
from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import upgrade
from chatbridge.store.tables import OutboxItem


class FlakyChat(MemoryPlatform):
    """A memory platform whose sends fail a given number of times first."""

    failures: list[Exception]

    async def send(self, room, message, *, thread_id=None, idempotency_key):  # type: ignore[no-untyped-def]
        if self.failures:
            raise self.failures.pop(0)
        return await super().send(room, message, thread_id=thread_id, idempotency_key=idempotency_key)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[object]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def queue_hello(engine, chat: MemoryPlatform, key: str = "hello") -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        payload = send_payload(chat.room(), OutgoingMessage("Welcome to the forum"))
        enqueue(
            session,
            platform=PlatformName.MEMORY,
            kind="send",
            payload=payload,
            dedupe_key=key,
            now=chat.now(),
        )
        enqueue(
            session,
            platform=PlatformName.MEMORY,
            kind="send",
            payload=payload,
            dedupe_key=key,
            now=chat.now(),
        )
        session.commit()


async def test_an_action_is_carried_out_once_even_when_enqueued_twice(engine) -> None:  # type: ignore[no-untyped-def]
    chat = MemoryPlatform()
    queue_hello(engine, chat)
    worker = OutboxWorker(engine, {chat.name: chat}, chat.now)
    assert await worker.drain() == 1
    assert await worker.drain() == 0
    assert [s.text for s in chat.transcript] == ["Welcome to the forum"]
    with Session(engine) as session:
        item = session.exec(select(OutboxItem)).one()
        assert item.done_at is not None and item.result == {
            "message_id": "m1",
            "room_id": "general-discussion",
            "thread_id": None,
        }


async def test_failures_are_retried_with_back_off_and_never_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    chat = FlakyChat()
    chat.failures = [ConnectionError("gateway timeout"), RetryLater("rate limited", retry_after=30)]
    queue_hello(engine, chat)
    worker = OutboxWorker(engine, {chat.name: chat}, chat.now)

    await worker.drain()
    assert chat.transcript == []
    chat.advance(timedelta(seconds=1))
    assert await worker.drain() == 0, "not due before its back-off"
    chat.advance(timedelta(seconds=2))
    await worker.drain()
    with Session(engine) as session:
        item = session.exec(select(OutboxItem)).one()
        assert item.attempts == 1, "a rate-limited try does not count toward the bound"
        assert item.last_error == "RetryLater: rate limited"
    chat.advance(timedelta(seconds=30))
    await worker.drain()
    assert [s.text for s in chat.transcript] == ["Welcome to the forum"]


async def test_a_crash_after_sending_does_not_post_twice(engine) -> None:  # type: ignore[no-untyped-def]
    """The idempotency key comes from the row: a retried send is recognised by the platform."""
    chat = MemoryPlatform()
    queue_hello(engine, chat)
    with Session(engine) as session:
        item = session.exec(select(OutboxItem)).one()
        key = f"outbox-{item.id}"
    await chat.send(
        chat.room(), OutgoingMessage("Welcome to the forum"), idempotency_key=key
    )  # sent, then "crashed"
    await OutboxWorker(engine, {chat.name: chat}, chat.now).drain()
    assert len(chat.transcript) == 1


def test_buttons_survive_the_outbox_row() -> None:
    """A queue card's buttons are plain data: they go through JSON and come back the same."""
    import json

    from chatbridge.model import Action
    from chatbridge.services.outbox import message_from, message_payload

    card = OutgoingMessage(
        "Case #12",
        title="Case #12",
        actions=(Action("Claim", ("case", "claim"), {"case": "#12"}, "primary"),),
    )
    assert message_from(json.loads(json.dumps(message_payload(card)))) == card


def the_item(engine) -> OutboxItem:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.exec(select(OutboxItem)).one()


async def test_a_refusal_sets_the_item_aside_at_once_with_the_platforms_reason(engine) -> None:  # type: ignore[no-untyped-def]
    chat = FlakyChat()
    chat.failures = [PlatformError("I'm not allowed to post in #general.")]
    queue_hello(engine, chat)
    told: list[int] = []
    worker = OutboxWorker(
        engine, {chat.name: chat}, chat.now, on_dead=lambda _session, item, _now: told.append(item.id or 0)
    )
    assert await worker.drain() == 1
    item = the_item(engine)
    assert item.dead_at == chat.now() and item.done_at is None and item.attempts == 1
    assert item.dead_reason == "PlatformError: I'm not allowed to post in #general."
    assert told == [item.id]
    chat.advance(timedelta(days=1))
    assert await worker.drain() == 0, "a set-aside item is not tried again by itself"
    assert chat.transcript == [] and told == [item.id]


async def test_passing_failures_set_the_item_aside_after_the_bounded_attempts(engine) -> None:  # type: ignore[no-untyped-def]
    chat = FlakyChat()
    chat.failures = [ConnectionError("connection reset")] * 3
    queue_hello(engine, chat)
    worker = OutboxWorker(engine, {chat.name: chat}, chat.now, max_attempts=3)
    for attempt in range(1, 4):
        assert await worker.drain() == 1
        item = the_item(engine)
        assert item.attempts == attempt
        assert (item.dead_at is not None) == (attempt == 3)
        chat.advance(timedelta(hours=1))
    assert await worker.drain() == 0
    assert the_item(engine).dead_reason == "ConnectionError: connection reset"
    assert chat.transcript == []


async def test_rate_limits_never_set_an_item_aside(engine) -> None:  # type: ignore[no-untyped-def]
    chat = FlakyChat()
    chat.failures = [RetryLater("you are being rate limited", retry_after=5)] * 20
    queue_hello(engine, chat)
    worker = OutboxWorker(engine, {chat.name: chat}, chat.now, max_attempts=3)
    for _ in range(21):
        assert await worker.drain() == 1
        chat.advance(timedelta(seconds=5))
    item = the_item(engine)
    assert item.done_at is not None and item.dead_at is None and item.attempts == 1
    assert [s.text for s in chat.transcript] == ["Welcome to the forum"]


async def test_an_admin_retries_or_drops_a_set_aside_item(engine) -> None:  # type: ignore[no-untyped-def]
    from chatbridge.services.outbox import (
        OutboxAdminError,
        dead_letters,
        drop_dead_letter,
        retry_dead_letter,
    )

    chat = FlakyChat()
    chat.failures = [PlatformError("Unknown Channel"), PlatformError("Unknown Channel")]
    queue_hello(engine, chat, key="first")
    worker = OutboxWorker(engine, {chat.name: chat}, chat.now)
    await worker.drain()
    with Session(engine) as session:
        [dead] = dead_letters(session)
        assert dead.id is not None
        with pytest.raises(OutboxAdminError, match="there is no outbox item 99"):
            retry_dead_letter(session, 99)
        retry_dead_letter(session, dead.id)
        session.commit()
        with pytest.raises(OutboxAdminError, match="is not set aside: it is still being tried"):
            drop_dead_letter(session, dead.id, chat.now())
    await worker.drain()
    with Session(engine) as session:
        [dead] = dead_letters(session)
        assert dead.id is not None
        drop_dead_letter(session, dead.id, chat.now())
        session.commit()
        assert dead_letters(session) == []
        with pytest.raises(OutboxAdminError, match="is already done"):
            retry_dead_letter(session, dead.id)
    await worker.drain()
    assert chat.transcript == [], "a dropped item never goes out"
