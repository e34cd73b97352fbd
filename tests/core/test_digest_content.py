"""What a digest features, and what it must never show (on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chatbridge.config import DigestConfig
from chatbridge.model import MessageRef, PlatformName
from chatbridge.services.digest.content import Digest, DigestRules, activity_score, build_digest
from chatbridge.services.digest.render import DigestTemplates, digest_context
from chatbridge.services.digest.schedule import Period
from chatbridge.store.tables import (
    Community,
    CommunityBinding,
    Like,
    Member,
    ModCase,
    Post,
    Report,
    Sanction,
    SubForum,
    Thread,
    TrophyAward,
)

START = datetime(2025, 7, 14, 9, 0, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=7))
DAY = timedelta(days=1)


class World:
    """A community built row by row, with times relative to the digest period's start."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.community = Community(name="Night Owls")
        session.add(self.community)
        session.flush()
        assert self.community.id is not None
        self.cid = self.community.id
        session.add(CommunityBinding(community_id=self.cid, platform="memory", platform_id="guild-1"))
        self.general = self.subforum("General", "general")
        self.staff = self.subforum("Staff Room", "staff", private=True)
        self._ids = itertools.count(1)
        self.members: dict[str, Member] = {}

    def subforum(self, name: str, room: str, private: bool = False) -> SubForum:
        subforum = SubForum(
            community_id=self.cid,
            name=name,
            platform="memory",
            platform_room_id=room,
            kind="memory",
            private=private,
        )
        self.session.add(subforum)
        self.session.flush()
        return subforum

    def member(self, name: str, *, joined: datetime | None = None, bot: bool = False) -> Member:
        if name not in self.members:
            member = Member(
                community_id=self.cid,
                display_name=name,
                joined_at=joined,
                first_seen_at=joined or START - 30 * DAY,
                is_bot=bot,
            )
            self.session.add(member)
            self.session.flush()
            self.members[name] = member
        return self.members[name]

    def post(
        self,
        thread: Thread,
        author: str,
        at: datetime,
        body: str = "",
        *,
        flush: bool = True,
        **flags: object,
    ) -> Post:
        member = self.member(author)
        assert thread.id is not None and member.id is not None
        n = next(self._ids)
        post = Post(
            thread_id=thread.id,
            community_id=self.cid,
            member_id=member.id,
            platform="memory",
            platform_message_id=f"m{n}",
            body=body or f"post {n}",
            created_at=at,
            **flags,  # type: ignore[arg-type]
        )
        self.session.add(post)
        thread.last_activity_at = max(thread.last_activity_at, at)
        if flush:
            self.session.flush()
        return post

    def thread(
        self,
        title: str,
        starter: str,
        at: datetime = START + DAY,
        subforum: SubForum | None = None,
        **flags: object,
    ) -> Thread:
        where = subforum or self.general
        assert where.id is not None
        member = self.member(starter)
        assert member.id is not None
        thread = Thread(
            community_id=self.cid,
            subforum_id=where.id,
            platform="memory",
            platform_thread_id=f"t-{title}",
            title=title,
            starter_member_id=member.id,
            created_at=at,
            last_activity_at=at,
            **flags,  # type: ignore[arg-type]
        )
        self.session.add(thread)
        self.session.flush()
        self.post(thread, starter, at, f"opening of {title}", is_opening=True)
        return thread

    def replies(self, thread: Thread, *authors: str, at: datetime = START + 2 * DAY) -> list[Post]:
        posts = [
            self.post(thread, a, at + i * timedelta(minutes=1), flush=False) for i, a in enumerate(authors)
        ]
        self.session.flush()
        return posts

    def like(self, post: Post, *likers: str, at: datetime = START + 3 * DAY) -> None:
        assert post.id is not None
        for liker in likers:
            member = self.member(liker)
            assert member.id is not None
            self.session.add(
                Like(
                    post_id=post.id,
                    member_id=member.id,
                    post_author_id=post.member_id,
                    community_id=self.cid,
                    created_at=at,
                )
            )
            post.like_count += 1  # as ingest keeps it
        self.session.flush()

    def report(self, post: Post, reporter: str = "reporter") -> None:
        case = ModCase(
            community_id=self.cid,
            post_id=post.id,
            category="misinformation",
            subject_member_id=post.member_id,
        )
        self.session.add(case)
        self.session.flush()
        assert case.id is not None
        member = self.member(reporter)
        assert member.id is not None
        self.session.add(Report(case_id=case.id, reporter_member_id=member.id, category="misinformation"))
        self.session.flush()

    def mute(
        self, name: str, start: datetime, ends: datetime | None = None, lifted: datetime | None = None
    ) -> None:
        member = self.member(name)
        assert member.id is not None
        self.session.add(
            Sanction(
                community_id=self.cid,
                member_id=member.id,
                kind="mute",
                started_at=start,
                ends_at=ends,
                lifted_at=lifted,
            )
        )
        self.session.flush()

    def trophy(self, name: str, key: str, at: datetime = START + DAY, points: int = 1) -> None:
        member = self.member(name)
        assert member.id is not None
        self.session.add(TrophyAward(member_id=member.id, trophy_key=key, points=points, awarded_at=at))
        self.session.flush()

    def digest(self, rules: DigestRules | None = None) -> Digest:
        self.session.commit()
        titles = {"first_message": "First Message"}
        return build_digest(self.session, self.community, PERIOD, rules or DigestRules(), titles)


@pytest.fixture
def world(store: Engine) -> Iterator[World]:
    with Session(store, expire_on_commit=False) as session:
        yield World(session)


def test_discussion_beats_likes_and_replies_are_capped_per_member(world: World) -> None:
    liked = world.thread("One reply, many likes", "ann")
    world.like(world.replies(liked, "ben")[0], *[f"fan{i}" for i in range(100)])
    duel = world.thread("Two members trading replies", "cat")
    world.replies(duel, *["dan", "cat"] * 25)
    talk = world.thread("Six members talking", "eve")
    world.replies(talk, "fay", "gus", "hal", "ida", "jon")
    digest = world.digest(DigestRules(min_participants=2))
    titles = [t.title for t in digest.threads]
    assert titles == ["Six members talking", "One reply, many likes", "Two members trading replies"]
    talk_entry = digest.threads[0]
    assert (talk_entry.participants, talk_entry.replies, talk_entry.likes) == (6, 5, 0)
    assert talk_entry.score == activity_score(6, 5, 0) == 23
    assert digest.threads[2].replies == 50 and digest.threads[2].score == activity_score(2, 10, 0)


def test_a_thread_needs_enough_distinct_participants(world: World) -> None:
    pair = world.thread("Just the two of us", "ann")
    world.replies(pair, "ben", "ben", "ben")
    trio = world.thread("Three of us", "ann")
    world.replies(trio, "ben", "cat")
    assert [t.title for t in world.digest().threads] == ["Three of us"]


def test_a_few_loud_voices_cannot_fill_the_digest(world: World) -> None:
    for n in range(4):
        loud = world.thread(f"Loud thread {n}", "loud")
        world.replies(loud, *[f"m{n}-{i}" for i in range(6 - n)])
    quiet = world.thread("Quiet thread", "quiet")
    world.replies(quiet, "x", "y")
    best_reply = world.replies(quiet, "loud")[0]
    world.like(best_reply, "x", "y", "z")
    other = world.replies(quiet, "calm")[0]
    world.like(other, "x")
    digest = world.digest(DigestRules(entries=5, max_per_author=2))
    assert [t.title for t in digest.threads] == ["Loud thread 0", "Quiet thread", "Loud thread 1"]
    # "loud" already has two featured threads, so their most-liked reply gives way to "calm".
    assert [r.author for r in digest.replies] == ["calm"]


def test_nothing_reported_removed_hidden_muted_or_private_reaches_the_digest(world: World) -> None:
    def lively(title: str, starter: str = "ann", **kwargs: object) -> Thread:
        thread = world.thread(title, starter, **kwargs)  # type: ignore[arg-type]
        world.replies(thread, "p1", "p2", "p3")
        return thread

    lively("SECRET staff thread", subforum=world.staff)
    lively("REMOVED thread", removed=True)
    reported_opening = lively("REPORTED opening")
    world.report(_opening(world, reported_opening))
    lively("MUTED starter thread", starter="troll")
    world.mute("troll", START - 2 * DAY, lifted=START + DAY)  # muted, lifted during the period
    world.mute("ex-troll", START - 9 * DAY, lifted=START - 2 * DAY)  # lifted before: not excluded

    fine = lively("Fine thread")
    reported_reply = world.replies(fine, "p4", at=START + 3 * DAY)[0]
    reported_reply.body = "REPORTED reply body"
    world.like(reported_reply, "l1", "l2", "l3", "l4")
    world.report(reported_reply)
    hidden = world.post(fine, "p5", START + 3 * DAY, "HIDDEN reply body", hidden=True)
    world.like(hidden, "l1")
    deleted = world.post(fine, "p6", START + 3 * DAY, "DELETED reply body", deleted_at=START + 4 * DAY)
    muted_reply = world.post(fine, "troll", START + 3 * DAY, "MUTED reply body")
    world.like(muted_reply, "l1", "l2", "l3", "l4", "l5")
    world.like(world.replies(fine, "ex-troll")[0], "l1", "l2")
    world.like(world.replies(fine, "p1")[0], "troll")  # a muted member's like does not count
    world.trophy("troll", "first_message")
    world.member("troll").joined_at = START + DAY
    locked_reply = world.post(fine, "p7", START + 3 * DAY, "UNCOUNTED reply body", counted=False)
    del deleted, locked_reply

    digest = world.digest()
    assert [t.title for t in digest.threads] == ["Fine thread"]
    assert [(r.author, r.likes) for r in digest.replies] == [("ex-troll", 2)]
    assert digest.trophies == () and "troll" not in digest.newcomers
    fine_entry = digest.threads[0]
    # ann (opening) + p1, p2, p3 (+ p1 again) + ex-troll: p4's reply is reported, p5's hidden,
    # p6's deleted, p7's not counted and troll is muted.
    assert (fine_entry.participants, fine_entry.replies, fine_entry.likes) == (5, 5, 2)
    # The numbers count what members said, not what is featured: replies in the thread whose
    # opening was reported or whose starter is muted still count; the private and removed
    # threads, and every excluded post, do not.
    numbers = digest.numbers
    assert (numbers.threads, numbers.replies, numbers.likes) == (1, 5 + 3 + 3, 2)
    assert numbers.active_members == 5

    markdown = DigestTemplates(DigestConfig()).render(digest_context(digest, "UTC")).markdown
    for secret in (
        "SECRET",
        "REMOVED",
        "REPORTED",
        "HIDDEN",
        "DELETED",
        "MUTED",
        "UNCOUNTED",
        "troll\n",
        "p4",
    ):
        assert secret not in markdown


def _opening(world: World, thread: Thread) -> Post:
    return world.session.exec(select(Post).where(Post.thread_id == thread.id, col(Post.is_opening))).one()


def test_unanswered_threads_oldest_first_capped_per_author(world: World) -> None:
    world.replies(world.thread("Answered", "ann", at=START + DAY), "ben")
    world.thread("Waiting longest", "cat", at=START + timedelta(hours=2))
    bumped = world.thread("Bumped by its starter", "dan", at=START + 2 * DAY)
    world.replies(bumped, "dan")
    for n in range(3):
        world.thread(f"Eager question {n}", "eager", at=START + 3 * DAY + n * timedelta(hours=1))
    world.thread("Before the period", "old", at=START - DAY)
    digest = world.digest(DigestRules(entries=5, max_per_author=2))
    assert [t.title for t in digest.unanswered] == [
        "Waiting longest",
        "Bumped by its starter",
        "Eager question 0",
        "Eager question 1",
    ]


def test_newcomers_trophies_numbers_and_links(world: World) -> None:
    for name in ("new1", "new2"):
        world.member(name, joined=START + DAY)
    world.member("bot", joined=START + DAY, bot=True)
    world.member("older", joined=START - DAY)
    world.trophy("new1", "first_message")
    world.trophy("new1", "thread_starter", points=2)
    world.trophy("older", "first_message", at=START - DAY)
    thread = world.thread("Handover tips", "new1")
    reply = world.replies(thread, "new2", "older")[0]
    world.like(reply, "older")
    digest = world.digest()
    assert digest.newcomers == ("new1", "new2")
    assert [(t.member, t.titles, t.points) for t in digest.trophies] == [
        ("new1", ("First Message", "thread_starter"), 3)
    ]
    assert digest.numbers.new_members == 2 and digest.numbers.likes == 1
    entry = digest.threads[0]
    assert entry.ref == MessageRef(PlatformName.MEMORY, "general", "m1", "t-Handover tips", "guild-1")
    assert digest.replies[0].ref == MessageRef(
        PlatformName.MEMORY, "general", "m2", "t-Handover tips", "guild-1"
    )
    assert digest.replies[0].thread_ref == entry.ref


def test_likes_are_those_the_weeks_posts_received(world: World) -> None:
    thread = world.thread("Old thread", "ann", at=START - 3 * DAY)
    old_reply = world.post(thread, "ben", START - 2 * DAY)
    world.like(old_reply, "cat", "dan", at=START + DAY)  # a post from before the week: not its likes
    new_reply = world.replies(thread, "cat")[0]
    world.like(new_reply, "dan", at=START + DAY)
    world.like(new_reply, "eve", at=PERIOD.end + DAY)  # given by the time the digest is made
    world.replies(thread, "dan")
    digest = world.digest(DigestRules(min_participants=2))
    assert digest.numbers.likes == 2
    assert digest.threads[0].likes == 2
    assert [(r.author, r.likes) for r in digest.replies] == [("cat", 2)]


def test_the_ranking_reads_only_as_far_as_it_must_but_stays_exact(world: World) -> None:
    """Many threads whose uncapped bound is high but whose replies come from one loud member."""
    for n in range(60):
        noisy = world.thread(f"Noisy {n}", f"starter{n}")
        world.replies(noisy, "x", "y", *["loud"] * 20)
    for n in range(3):
        broad = world.thread(f"Broad {n}", f"opener{n}")
        world.replies(broad, *[f"b{n}-{i}" for i in range(8 + n)])
    digest = world.digest(DigestRules(entries=5, min_participants=3))
    assert [t.title for t in digest.threads[:3]] == ["Broad 2", "Broad 1", "Broad 0"]
    assert [t.score for t in digest.threads] == sorted((t.score for t in digest.threads), reverse=True)
    assert digest.threads[3].score == activity_score(4, 5 + 1 + 1, 0)


def test_a_quiet_week(world: World) -> None:
    digest = world.digest()
    assert digest.quiet and digest.numbers.threads == 0
    markdown = DigestTemplates(DigestConfig()).render(digest_context(digest, "UTC")).markdown
    assert "A quiet week" in markdown
