"""kill -9 at seeded random points of a long stream: nothing lost, nothing doubled, nothing said twice.

The bot runs as a process of its own (`support.matrix_bot_process`) against the real Synapse and a
real store (SQLite, PostgreSQL). Four members talk the way people do in Element: new threads,
replies, likes given as reactions and some taken back, `!profile` (of another member) and
`!thread show` mixed in. At seeded random points the test sends SIGKILL to the bot and starts it
again at once, while the members keep talking. At the end the store's counts must equal a ground
truth kept from what was sent, no command may be answered twice (and at most one per kill, the one
in flight, may go unanswered: a known gap, see #17), and every trophy must be announced once.

CI runs 1,000 events with 5 kills; CHATBRIDGE_FAULTS=full runs 5,000 events with 20 kills.
CHATBRIDGE_FAULTS_SEED picks another stream (the seed is in the test id's failure message).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, MessageDirection, RoomMessagesResponse, SyncResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from chatbridge.sandbox import Homeserver
from chatbridge.store.engine import make_engine
from chatbridge.store.tables import Identity, OutboxItem, Post, Thread, TrophyAward
from chatbridge.store.tables import Member as MemberRow
from support.matrix_forum import Member, body, create_community, register_bot

pytestmark = [pytest.mark.synapse, pytest.mark.slow]

MakeMember = Callable[[str], Awaitable[AsyncClient]]

FULL = os.environ.get("CHATBRIDGE_FAULTS") == "full"
EVENTS, KILLS = (5_000, 20) if FULL else (1_000, 5)
SEED = int(os.environ.get("CHATBRIDGE_FAULTS_SEED", "17"))
SETTLE = 600.0
"""Seconds the restarted bot may take to catch up with the whole stream (never reached when it works)."""


class BotProcess:
    """The bot as a child process: started, killed with SIGKILL, stopped with SIGTERM."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, *, wait_ready: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBRIDGE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "support.matrix_bot_process", str(self.config),
                env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        self.starts += 1
        if wait_ready:
            assert self.process.stdout is not None
            async with asyncio.timeout(120):
                line = await self.process.stdout.readline()
            assert line.strip() == b"ready", f"the bot did not start:\n{self.log.read_text()}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await self.process.wait()


@dataclass
class Truth:
    """What the members did, kept independently of the bot."""

    author: dict[str, str] = field(default_factory=dict)
    """Every counted message (a reply, or a root once it has one) -> its author's user id."""
    root_author: dict[str, str] = field(default_factory=dict)
    posts_in: dict[str, list[str]] = field(default_factory=dict)
    roots_in: dict[str, list[str]] = field(default_factory=dict)
    replies: Counter[str] = field(default_factory=Counter)
    likes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(liker, post) -> (room, reaction event id), for likes standing now."""
    commands: dict[str, str] = field(default_factory=dict)
    """Every command's event id -> its text."""

    def like_count(self, post: str) -> int:
        return sum(1 for _, liked in self.likes if liked == post)


async def play(rng: random.Random, members: list[Member], rooms: list[str], truth: Truth, step: int) -> None:
    """One seeded step of the stream."""
    member, room = rng.choice(members), rng.choice(rooms)
    roots, posts = truth.roots_in.setdefault(room, []), truth.posts_in.setdefault(room, [])
    roll = rng.random()
    if not roots or roll < 0.15:
        root = await member.say(room, f"Question {step}: how do you handle this?")
        roots.append(root)
        truth.root_author[root] = member.user_id
        return
    if roll < 0.55 or not posts:
        root = rng.choice(roots)
        if truth.replies[root] == 0:  # on Matrix a thread (and its opening post) begins with its first reply
            posts.append(root)
            truth.author[root] = truth.root_author[root]
        reply = await member.say(room, f"Answer {step}: it depends.", thread=root)
        posts.append(reply)
        truth.author[reply] = member.user_id
        truth.replies[root] += 1
        return
    if roll < 0.82:
        post = rng.choice(posts)
        if truth.author[post] != member.user_id and (member.user_id, post) not in truth.likes:
            truth.likes[member.user_id, post] = (room, await member.react(room, post, "👍"))
            return
    if roll < 0.90:
        mine = sorted(key for key in truth.likes if key[0] == member.user_id)
        if mine:
            key = rng.choice(mine)
            where, reaction = truth.likes.pop(key)
            await member.redact(where, reaction)
            return
    if roll < 0.95:  # another member's card: answered in the room (one's own goes to a direct chat)
        other = rng.choice([m for m in members if m is not member])
        text = f"!profile {other.user_id}"
        truth.commands[await member.say(room, text)] = text
    else:
        started = [root for root in roots if truth.replies[root]]  # a command does not start a thread
        truth.commands[await member.say(room, "!thread show", thread=rng.choice(started))] = "!thread show"


async def bot_messages(client: AsyncClient, room_id: str, bot_user_id: str) -> list[dict[str, Any]]:
    """Everything the bot said in a room, read back from the homeserver."""
    synced = await client.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 1}}})
    assert isinstance(synced, SyncResponse), synced
    said: list[dict[str, Any]] = []
    token: str | None = synced.next_batch
    while token:
        page = await client.room_messages(room_id, start=token, direction=MessageDirection.back, limit=1000)
        assert isinstance(page, RoomMessagesResponse), page
        for event in page.chunk:
            source = getattr(event, "source", {})
            if source.get("sender") == bot_user_id and source.get("type") == "m.room.message":
                said.append(source)
        token = page.end if page.chunk else None
    return said


def answered(event: dict[str, Any]) -> str | None:
    relates = event.get("content", {}).get("m.relates_to", {})
    reply_to = relates.get("m.in_reply_to", {}).get("event_id")
    return str(reply_to) if reply_to else None


async def test_kill_9_during_a_long_stream_loses_nothing_and_doubles_nothing(
    homeserver: Homeserver, make_member: MakeMember, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    context = f"seed {SEED}, {database_url.split(':', 1)[0]}, {EVENTS} events, {KILLS} kills"
    account = await register_bot(homeserver)
    community = await create_community(await make_member("dana"), account.user_id)
    rooms = list(community.rooms.values())
    members = [Member(await make_member(name)) for name in ("alice", "bob", "carol", "erin")]
    for member in members:
        for room_id in (community.space_id, *rooms):
            await member.join(room_id)
    config = tmp_path / "bot.json"
    config.write_text(
        json.dumps(
            {
                "homeserver": homeserver.base_url,
                "user_id": account.user_id,
                "password": account.password,
                "database_url": database_url,
                "space_id": community.space_id,
            }
        )
    )
    bot = BotProcess(config, tmp_path / "bot.log")
    kill_at = set(rng.sample(range(1, EVENTS), KILLS))
    truth = Truth()
    await bot.start(wait_ready=True)
    try:
        for step in range(EVENTS):
            if step in kill_at:
                await bot.kill()
                await bot.start(wait_ready=False)  # the members do not wait for it
            await play(rng, members, rooms, truth, step)
        last = await members[0].say(rooms[0], f"!profile {members[1].user_id}")
        truth.commands[last] = "!profile"
        engine = make_engine(database_url)
        try:
            async with asyncio.timeout(SETTLE):
                while True:
                    assert bot.running, f"the bot stopped:\n{bot.log.read_text()}"
                    heard = await bot_messages(members[0].client, rooms[0], account.user_id)
                    if any(answered(said) == last for said in heard) and not pending_outbox(engine):
                        break
                    await asyncio.sleep(2)  # the bot catches up on its own; poll what it said
            await bot.stop()
            said = [m for room in rooms for m in await bot_messages(members[0].client, room, account.user_id)]
            with Session(engine) as session:
                check_store(session, truth, members, context)
                trophies_awarded = session.exec(select(func.count()).select_from(TrophyAward)).one()
        finally:
            engine.dispose()
    finally:
        await bot.stop()

    assert trophies_awarded > 0 and len(truth.commands) > KILLS  # the stream exercised both
    answers = Counter(answered(m) for m in said)
    unanswered = {c: text for c, text in truth.commands.items() if answers[c] == 0}
    twice = {c: text for c, text in truth.commands.items() if answers[c] > 1}
    assert twice == {}, f"{context}: commands answered twice"
    # Known gap (#17): dispatch commits a command as handled, then sends its answer, so a kill
    # between the two loses that one answer; a kill can catch only the commands in flight.
    assert len(unanswered) <= KILLS, f"{context}: more commands unanswered than kills: {unanswered}"
    announcements = Counter(body(m) for m in said if body(m).startswith("🏆"))
    assert [text for text, n in announcements.items() if n > 1] == [], f"{context}: trophies announced twice"
    assert sum(announcements.values()) == trophies_awarded, f"{context}: a trophy award went unannounced"
    assert bot.starts == KILLS + 1


def pending_outbox(engine: Any) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(OutboxItem).where(col(OutboxItem.done_at).is_(None))
        ).one()


def check_store(session: Session, truth: Truth, members: list[Member], context: str) -> None:
    """The store's counts against the ground truth: lost and doubled, by kind."""
    posts = {p.platform_message_id: p for p in session.exec(select(Post)).all()}
    lost = [event_id for event_id in truth.author if event_id not in posts or not posts[event_id].counted]
    threads = {t.platform_thread_id: t for t in session.exec(select(Thread)).all()}
    replies: dict[str, tuple[int | None, int | None]] = {
        root: (threads[root].reply_count if root in threads else None, truth.replies[root] or None)
        for roots in truth.roots_in.values()
        for root in roots
    }  # None: no thread (a root nobody replied to opens none)
    wrong_replies = {root: counts for root, counts in replies.items() if counts[0] != counts[1]}
    wrong_likes = {
        event_id: (posts[event_id].like_count, truth.like_count(event_id))
        for event_id in truth.author
        if event_id in posts and posts[event_id].like_count != truth.like_count(event_id)
    }
    sent = Counter(truth.author.values())
    counted = {}
    for member in members:
        identity = session.exec(select(Identity).where(Identity.platform_user_id == member.user_id)).one()
        row = session.get(MemberRow, identity.member_id)
        assert row is not None
        counted[member.user_id] = row.message_count
    doubled_replies = {k: v for k, v in wrong_replies.items() if (v[0] or 0) > (v[1] or 0)}
    doubled_likes = {k: v for k, v in wrong_likes.items() if v[0] > v[1]}
    summary = (
        f"{context}: {len(lost)} messages lost; reply counts wrong in {len(wrong_replies)} threads "
        f"({len(doubled_replies)} too high); like counts wrong on {len(wrong_likes)} posts "
        f"({len(doubled_likes)} too high)"
    )
    assert (lost, wrong_replies, wrong_likes) == ([], {}, {}), summary
    assert counted == {m.user_id: sent[m.user_id] for m in members}, f"{context}: message counts"
