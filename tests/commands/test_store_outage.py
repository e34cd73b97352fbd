"""The store unavailable for longer than any ingest retry: nothing is lost, nothing is doubled.

The memory platform keeps what the store could not take (`held`), as a real adapter keeps its
position, and delivers it again (`redeliver`) once the store is back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.platform import Outcome
from chatbridge.store.engine import make_engine
from chatbridge.store.tables import Member, Thread
from support.forum import Forum, running_forum, sqlite_url, texts
from support.locked_store import store_locked
from support.postgres import require_postgres_bindir, running_cluster


async def test_replies_and_a_command_while_sqlite_is_locked_are_applied_once_when_it_is_back(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    # A short busy timeout and retry budget: the outage outlasts every retry in a second, not minutes.
    async with running_forum(url, engine=make_engine(url, busy_timeout_ms=100)) as forum:
        await _talk_through_an_outage(forum, lambda: store_locked(tmp_path / "forum.db"))


@pytest.mark.slow
@pytest.mark.postgres
async def test_replies_and_a_command_while_postgresql_is_stopped_are_applied_once_when_it_is_back() -> None:
    with running_cluster(require_postgres_bindir()) as cluster:  # its own: this test stops it
        async with running_forum(cluster.url(cluster.create_database())) as forum:
            await _talk_through_an_outage(forum, cluster.stopped)


async def _talk_through_an_outage(forum: Forum, outage: Callable[[], AbstractContextManager[object]]) -> None:
    """Members talk, and one asks for a profile card, while the store is unavailable; once it is
    back, every reply is counted once and the command is answered once."""
    forum.core.ingestor.unavailable_retries = 2
    forum.core.ingestor.retry_pause = 0.01
    chat = forum.chat
    thread = await chat.start_thread("Night shifts", "Any tips?", as_="alice")
    await chat.say("Sleep in blocks.", as_="bob", thread=thread)
    truth = Counter({"alice": 1, "bob": 1})

    with outage():
        assert await chat.say("!profile", as_="carol", thread=thread) == []
        asked = next(reversed(chat.outcomes))
        assert chat.outcomes[asked] is Outcome.UNAVAILABLE
        for n in range(12):
            author = ("bob", "carol", "dave")[n % 3]
            assert await chat.say(f"Reply {n}", as_=author, thread=thread) == []
            truth[author] += 1
        assert len(chat.held) == 13
        assert await chat.redeliver() == []  # still unavailable: nothing answered, nothing dropped
        assert len(chat.held) == 13

    answers = await chat.redeliver()
    assert chat.held == []
    cards = [a for a in answers if a.text.startswith("**carol**")]
    assert len(cards) == 1 and "Messages: 0" in cards[0].text  # asked before her replies
    assert texts(answers).count("earned the trophy **First Message**") == 2  # carol's, dave's
    assert await chat.redeliver() == []  # answered once

    with forum.store() as session:
        stored = session.exec(select(Thread)).one()
        assert stored.reply_count == sum(truth.values()) - 1
        counts = {m.display_name: m.message_count for m in session.exec(select(Member)).all()}
        assert counts == dict(truth)


@pytest.mark.parametrize(
    "database_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_poison_event_is_refused_logged_once_by_its_id_and_skipped(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refuses text with a NUL character, however often it is tried: the event is
    refused (its position may move on), logged once by id, never by its text."""
    async with running_forum(database_url) as forum:
        chat = forum.chat
        thread = await chat.start_thread("Night shifts", "Any tips?", as_="alice")
        await chat.say("Secret\x00 patient details", as_="bob", thread=thread)
        poison = next(reversed(chat.outcomes))
        assert chat.outcomes[poison] is Outcome.REFUSED
        assert chat.held == []
        await chat.say("Sleep in blocks.", as_="bob", thread=thread)
        assert chat.outcomes[next(reversed(chat.outcomes))] is Outcome.APPLIED

        with forum.store() as session:
            assert session.exec(select(Thread)).one().reply_count == 1
    # Ours: one line by id. psycopg may add a warning of its own when the failed pipeline is closed.
    mentions = [r for r in caplog.records if r.name.startswith("chatbridge") and poison in r.getMessage()]
    assert len(mentions) == 1 and mentions[0].levelno == logging.ERROR
    assert "patient" not in caplog.text
