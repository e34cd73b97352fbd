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
    chat.failures = [PlatformError("gateway timeout"), RetryLater("rate limited", retry_after=30)]
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
        assert item.attempts == 2 and item.last_error == "RetryLater: rate limited"
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
