"""Idempotency: a recorded stream of 10k mixed events, replayed twice with shuffled duplicates,
leaves every count equal to a ground truth computed without the store — on SQLite and on
PostgreSQL, whose set-based statements (arrays and `unnest`) are a different code path.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from chatbridge.dispatch import Dispatcher
from chatbridge.model import (
    Actor,
    ChatEvent,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PlatformName,
    ReactionAdded,
    ReactionRemoved,
    Room,
)
from chatbridge.services import batch
from chatbridge.store.bulk import Bulk
from chatbridge.store.tables import Like, Member, Post, Thread
from support.forum import Forum, running_forum

LIKES = ("👍", "❤️")
OTHER = ("🎉", "😂")


@dataclass
class Truth:
    """What the counts must be, computed by replaying the stream in plain Python."""

    author: dict[str, str] = field(default_factory=dict)
    thread_of: dict[str, str] = field(default_factory=dict)
    opening: set[str] = field(default_factory=set)
    alive: set[str] = field(default_factory=set)
    sources: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))

    def likes_of(self, post: str) -> set[str]:
        return {who for who, _ in self.sources[post]} if post in self.alive else set()


def record(seed: int, size: int) -> tuple[list[ChatEvent], Truth]:
    rng = random.Random(seed)
    rooms = [Room(PlatformName.MEMORY, "replay", f"room-{n}", f"Room {n}") for n in range(3)]
    people = [Actor(PlatformName.MEMORY, f"u{n}", f"member {n}") for n in range(40)]
    truth = Truth()
    events: list[ChatEvent] = []
    at = datetime(2025, 7, 1, tzinfo=UTC)
    threads: list[tuple[str, Room]] = []
    for n in range(size):
        at += timedelta(seconds=rng.randint(1, 90))
        event_id, message_id = f"e{n}", f"m{n}"
        actor = rng.choice(people)
        alive = sorted(truth.alive)
        roll = rng.random()
        if not threads or roll < 0.05:
            room = rng.choice(rooms)
            events.append(
                MessagePosted(
                    event_id=event_id,
                    at=at,
                    room=room,
                    actor=actor,
                    message_id=message_id,
                    text=f"opening {n}",
                    thread_id=message_id,
                    starts_thread=True,
                    thread_title=f"T{n}",
                )
            )
            threads.append((message_id, room))
            truth.author[message_id], truth.thread_of[message_id] = actor.user_id, message_id
            truth.opening.add(message_id)
            truth.alive.add(message_id)
        elif roll < 0.40:
            thread, room = rng.choice(threads)
            events.append(
                MessagePosted(
                    event_id=event_id,
                    at=at,
                    room=room,
                    actor=actor,
                    message_id=message_id,
                    text=f"reply {n}",
                    thread_id=thread,
                )
            )
            if thread in truth.alive:
                truth.author[message_id], truth.thread_of[message_id] = actor.user_id, thread
                truth.alive.add(message_id)
        elif roll < 0.45 and alive:
            target = rng.choice(alive)
            room = _room_of(threads, truth.thread_of[target])
            events.append(
                MessageEdited(
                    event_id=event_id, at=at, room=room, actor=None, message_id=target, text=f"edit {n}"
                )
            )
        elif roll < 0.50 and alive:
            target = rng.choice(alive)
            room = _room_of(threads, truth.thread_of[target])
            events.append(MessageDeleted(event_id=event_id, at=at, room=room, message_id=target))
            truth.alive.discard(target)
            truth.sources.pop(target, None)
            if target in truth.opening:  # the whole thread goes
                truth.alive -= {p for p, t in truth.thread_of.items() if t == target}
        elif roll < 0.85 and alive:
            target = rng.choice(alive)
            emoji = rng.choice(LIKES + OTHER)
            room = _room_of(threads, truth.thread_of[target])
            events.append(
                ReactionAdded(
                    event_id=event_id, at=at, room=room, actor=actor, message_id=target, emoji=emoji
                )
            )
            if emoji in LIKES and actor.user_id != truth.author[target]:
                truth.sources[target].add((actor.user_id, emoji))
        elif alive:
            liked = [(p, s) for p in alive for s in truth.sources[p]]
            if liked:
                target, (who, emoji) = rng.choice(liked)
                actor = next(p for p in people if p.user_id == who)
            else:
                target, emoji = rng.choice(alive), rng.choice(LIKES)
            room = _room_of(threads, truth.thread_of[target])
            events.append(
                ReactionRemoved(
                    event_id=event_id, at=at, room=room, actor=actor, message_id=target, emoji=emoji
                )
            )
            truth.sources[target].discard((actor.user_id, emoji))
    return events, truth


def _room_of(threads: list[tuple[str, Room]], thread: str) -> Room:
    return next(room for t, room in threads if t == thread)


async def deliver(forum: Forum, events: list[ChatEvent]) -> None:
    dispatcher = Dispatcher(forum.core)
    for start in range(0, len(events), 400):
        await asyncio.gather(*(dispatcher.handle(e, forum.chat) for e in events[start : start + 400]))


@pytest.fixture
async def forum(database_url: str) -> AsyncIterator[Forum]:
    """The forum on each database kind (the package's fixture is SQLite only)."""
    async with running_forum(database_url) as running:
        yield running


async def test_a_replayed_stream_counts_exactly_once(forum: Forum) -> None:
    events, truth = record(seed=20250716, size=10_000)
    rng = random.Random(7)
    # Duplicates land at random places after their original (a redelivery never precedes the event).
    slots = [(float(i), e) for i, e in enumerate(events)]
    slots += [(rng.uniform(i + 0.5, len(events)), events[i]) for i in rng.sample(range(len(events)), 1_000)]
    first_pass = [e for _, e in sorted(slots, key=lambda slot: slot[0])]
    second_pass = rng.sample(events, len(events))

    await deliver(forum, first_pass)
    await deliver(forum, second_pass)

    assert_counts(forum, truth)


async def test_posts_sent_while_their_batch_is_replayed_count_exactly_once(
    forum: Forum, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch sends the inserts of the posts it has replayed while it replays the rest; here
    every few posts, so that threads started, replied to and liked within one batch fall on
    both sides of those sends in every order."""
    monkeypatch.setattr(batch, "SEND_POSTS_EVERY", 3)
    events, truth = record(seed=20261207, size=3_000)

    await deliver(forum, events)

    assert_counts(forum, truth)


async def test_two_bots_sharing_a_store_count_exactly_once(
    forum: Forum, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two bot processes (say a Matrix and a Discord bot bridged into one community) write one
    store at once, each its own rooms' events, the same members in both. Neither may wait on the
    other forever (a deadlock, which PostgreSQL breaks by failing a batch) or lose a race to
    create a member."""
    truth = await two_bots_deliver(forum, database_url, seed=20251126)

    assert_counts(forum, truth)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_deadlock_between_two_bots_is_retried_and_loses_nothing(
    forum: Forum, database_url: str, database_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the community lock the two bots deadlock on members' rows (PostgreSQL fails one
    batch of each pair). The failed batch is retried whole, as when the database is briefly
    unavailable: not split into single events, which could deadlock again and be dropped."""
    if database_kind != "postgresql":
        pytest.skip("only PostgreSQL lets two writers hold rows at once")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Bulk, "lock_communities", lambda self, session, community_ids: None)
        truth = await two_bots_deliver(forum, database_url, seed=20251127)

    assert_counts(forum, truth)
    assert "deadlock detected" in caplog.text  # else this test proved nothing
    assert "one by one" not in caplog.text and "could not be applied" not in caplog.text


async def two_bots_deliver(forum: Forum, database_url: str, seed: int) -> Truth:
    """A recorded stream, its first room's events delivered by `forum`, the others' by a second
    bot on the same store, at the same time; returns the stream's truth."""
    events, truth = record(seed=seed, size=4_000)
    rooms: set[str] = set()
    warm = next(n for n, e in enumerate(events) if rooms.add(e.room.room_id) or len(rooms) == 3)
    await deliver(forum, events[: warm + 1])  # the community and its rooms, as both find them
    rest = events[warm + 1 :]
    async with running_forum(database_url) as other:
        mine = [e for e in rest if e.room.room_id == "room-0"]
        theirs = [e for e in rest if e.room.room_id != "room-0"]
        await asyncio.gather(deliver(forum, mine), deliver(other, theirs))
    return truth


def assert_counts(forum: Forum, truth: Truth) -> None:
    """Every count in the store equals the ground truth."""
    counted = {p for p in truth.alive if p not in truth.opening}
    expected_messages: dict[str, int] = defaultdict(int)
    expected_received: dict[str, int] = defaultdict(int)
    expected_given: dict[str, int] = defaultdict(int)
    for post in truth.alive:
        expected_messages[truth.author[post]] += 1
        expected_received[truth.author[post]] += len(truth.likes_of(post))
        for who in truth.likes_of(post):
            expected_given[who] += 1

    with forum.store() as session:
        rows = session.exec(select(Post)).all()
        by_message = {p.platform_message_id: p for p in rows}
        for message_id in truth.alive:
            assert by_message[message_id].like_count == len(truth.likes_of(message_id)), message_id
        for thread in session.exec(select(Thread)).all():
            root = thread.platform_thread_id
            replies = [p for p in counted if truth.thread_of[p] == root]
            if root in truth.alive:
                assert thread.reply_count == len(replies), root
                assert thread.like_count == sum(len(truth.likes_of(p)) for p in [root, *replies]), root
                assert thread.participant_count == len({truth.author[p] for p in [root, *replies]}), root
            else:
                assert thread.removed
        members = session.exec(select(Member)).all()
        names = {m.id: m.display_name.removeprefix("member ") for m in members}
        for member in members:
            user = f"u{names[member.id]}"
            assert member.message_count == expected_messages[user], user
            assert member.likes_received == expected_received[user], user
            assert member.likes_given == expected_given[user], user
        assert session.exec(select(func.count()).select_from(Like)).one() == sum(
            len(truth.likes_of(p)) for p in truth.alive
        )


async def test_a_newcomer_liking_a_post_written_moments_before_is_counted(forum: Forum) -> None:
    """The post and the newcomer's first act, a like on it, arrive together (one write batch):
    the like must not be lost for want of a member the batch had not yet looked up."""
    room = Room(PlatformName.MEMORY, "replay", "room-0", "Room 0")
    alice, newcomer = Actor(PlatformName.MEMORY, "alice", "alice"), Actor(PlatformName.MEMORY, "new", "new")
    at = datetime(2025, 7, 16, tzinfo=UTC)
    opening = MessagePosted(
        event_id="o",
        at=at,
        room=room,
        actor=alice,
        message_id="t1",
        text="Sepsis bundles",
        thread_id="t1",
        starts_thread=True,
        thread_title="Sepsis bundles",
    )
    liked = ReactionAdded(event_id="r", at=at, room=room, actor=newcomer, message_id="t1", emoji="👍")

    await deliver(forum, [opening, liked])

    with forum.store() as session:
        post = session.exec(select(Post).where(Post.platform_message_id == "t1")).one()
        assert post.like_count == 1
        members = {m.display_name: m for m in session.exec(select(Member)).all()}
        assert members["alice"].likes_received == 1
        assert members["new"].likes_given == 1
