"""What a digest says about one period: the store's week, with the privacy and fairness rules applied.

What counts: the posts written in the period and the likes those posts received (by the time the
digest is made: the posts' own like counters, kept by ingest, minus likes by muted members). Older
posts liked during the week do not make this week's digest; their week had its own.

The cost follows the week's activity, not the store's size: one aggregate per thread active in the
period, read through the (thread, time) index so the database never sorts the week's posts; exact
per-member reply counts only for the threads that may be featured; and only the handful of entries
that are shown are read in detail.

Rules, all applied here so no template can forget them:

* Nothing from a post that was removed (`deleted_at`), hidden, is not counted (a reply in a locked
  thread) or was reported (any moderation case on it); nothing in a removed thread or a private
  sub-forum; nothing from a member muted at any time during the period (their posts, their likes,
  their threads, their trophies, their welcome); no welcome or trophies for a member seen only in
  private sub-forums (digests are posted for everyone).
* A thread is featured by its **activity score** (see `activity_score`) and only when at least
  `min_participants` distinct members posted in it during the period.
* No member appears more than `max_per_author` times among the featured threads and most-liked
  replies together, so a few loud voices cannot fill the digest; unanswered threads have their
  own cap of the same size.

Links are not built here: entries carry a `MessageRef` (platform, room, message, thread, guild or
space), which is enough for whichever platform is connected to turn into a permalink when the
digest is rendered for posting.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy
from sqlalchemy import ColumnElement, Executable, String, and_, case, distinct, func, or_, select
from sqlmodel import Session, col

from chatbridge.config import DigestConfig
from chatbridge.forum.text import excerpt
from chatbridge.model import MessageRef, PlatformName
from chatbridge.services import credentials, directory, evidence
from chatbridge.services.digest.schedule import Period
from chatbridge.store.tables import (
    Community,
    CommunityBinding,
    Like,
    Member,
    ModCase,
    Post,
    PostNote,
    Sanction,
    SubForum,
    Thread,
    TrophyAward,
)

__all__ = [
    "Digest",
    "DigestRules",
    "NoteEntry",
    "Numbers",
    "ReplyEntry",
    "ThreadEntry",
    "TrophyEntry",
    "activity_score",
    "build_digest",
]

TITLE_CHARS = 100
NAME_CHARS = 64
QUOTE_CHARS = 140
NEWCOMER_NAMES = 10
_DETAIL_BATCH = 50


def activity_score(participants: int, capped_replies: int, likes: int) -> float:
    """How lively a thread was in the period: 3·participants + capped replies + 2·log2(1 + likes).

    Distinct participants weigh most (a discussion many members joined); replies count one each
    but at most `DigestRules.reply_cap` per member, so two people trading fifty replies do not beat
    ten people talking; likes add with diminishing returns, so a thread cannot be liked to the top
    without anyone discussing it.
    """
    return 3 * participants + capped_replies + 2 * math.log2(1 + likes)


@dataclass(frozen=True, slots=True)
class DigestRules:
    """The community's digest settings (`digest.*`), plus the per-member reply cap of the score."""

    entries: int = 5
    max_per_author: int = 2
    min_participants: int = 3
    reply_cap: int = 5

    @classmethod
    def from_config(cls, config: DigestConfig) -> DigestRules:
        return cls(config.entries, config.max_per_author, config.min_participants)


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    thread_id: int
    title: str
    subforum: str
    starter: str
    started_at: datetime
    replies: int
    participants: int
    likes: int
    score: float
    ref: MessageRef | None
    starter_badge: str | None = None
    source_requests: int = 0
    """Members waiting for a source on the opening post (no cited note answers them yet)."""
    opening_post_id: int | None = None


@dataclass(frozen=True, slots=True)
class NoteEntry:
    """A cited note written in the period under a post the digest may show."""

    author: str
    badge: str | None
    body: str
    citation: str
    citation_url: str
    thread_id: int
    thread_title: str
    ref: MessageRef | None


@dataclass(frozen=True, slots=True)
class ReplyEntry:
    post_id: int
    author: str
    likes: int
    quote: str
    posted_at: datetime
    thread_id: int
    thread_title: str
    ref: MessageRef | None
    thread_ref: MessageRef | None


@dataclass(frozen=True, slots=True)
class TrophyEntry:
    member: str
    titles: tuple[str, ...]
    points: int


@dataclass(frozen=True, slots=True)
class Numbers:
    threads: int = 0
    replies: int = 0
    likes: int = 0
    active_members: int = 0
    new_members: int = 0


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one digest shows, with no platform in it yet (links are refs)."""

    community: str
    period: Period
    threads: tuple[ThreadEntry, ...] = ()
    replies: tuple[ReplyEntry, ...] = ()
    unanswered: tuple[ThreadEntry, ...] = ()
    newcomers: tuple[str, ...] = ()
    trophies: tuple[TrophyEntry, ...] = ()
    numbers: Numbers = Numbers()
    notes: tuple[NoteEntry, ...] = ()
    """Sources and notes this week."""

    @property
    def quiet(self) -> bool:
        return not (
            self.threads or self.replies or self.unanswered or self.newcomers or self.trophies or self.notes
        )


@dataclass
class _ThreadActivity:
    """A thread's week: its eligible posts written in the period and the likes they received."""

    posts: int = 0
    participants: int = 0
    opened: bool = False
    likes: int = 0
    best_reply_likes: int = 0
    capped_replies: int | None = None
    """Exact, and costly (a per-member count): computed only for threads that may be featured."""

    @property
    def replies(self) -> int:
        return self.posts - int(self.opened)

    def bound(self) -> float:
        """An upper bound of the score: the capped replies are at most all the replies."""
        return activity_score(self.participants, self.replies, self.likes)

    def score(self) -> float:
        assert self.capped_replies is not None
        return activity_score(self.participants, self.capped_replies, self.likes)


@dataclass(frozen=True, slots=True)
class _ThreadInfo:
    """A thread as shown, read only for entries that may be shown."""

    thread_id: int
    title: str
    subforum: str
    starter_id: int
    starter: str
    created_at: datetime
    ref: MessageRef | None
    eligible: bool
    opening_post_id: int | None = None


@dataclass
class _AuthorCap:
    limit: int
    used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))

    def take(self, member_id: int) -> bool:
        if self.used[member_id] >= self.limit:
            return False
        self.used[member_id] += 1
        return True


@dataclass
class _Builder:
    session: Session
    community: Community
    period: Period
    rules: DigestRules
    trophy_titles: Mapping[str, str]
    muted: frozenset[int] = frozenset()
    bindings: dict[str, str] = field(default_factory=dict)
    muted_likes: dict[int, int] = field(default_factory=dict)
    _authors: dict[int, int] = field(default_factory=dict)
    _threads: dict[int, _ThreadInfo] = field(default_factory=dict)

    def _run(self, query: Executable) -> list[tuple[Any, ...]]:
        """Core queries on the session's connection: plain rows, no ORM objects to build."""
        return cast(list[tuple[Any, ...]], self.session.connection().execute(query).all())

    def _scalars(self, query: Executable) -> list[Any]:
        return list(self.session.connection().execute(query).scalars())

    @property
    def cid(self) -> int:
        assert self.community.id is not None
        return self.community.id

    def build(self) -> Digest:
        self.bindings = {
            platform: platform_id
            for platform, platform_id in self._run(
                select(col(CommunityBinding.platform), col(CommunityBinding.platform_id)).where(
                    col(CommunityBinding.community_id) == self.cid
                )
            )
        }
        self.muted = self._muted_members()
        activity, active_members = self._activity()
        self._discount_muted_likes(activity)
        featured_cap = _AuthorCap(self.rules.max_per_author)
        threads = self._with_evidence(self._featured(activity, featured_cap))
        # A post someone asked a source for is never featured above one that has its source.
        threads = sorted(threads, key=lambda t: t.source_requests > 0)
        replies = self._liked_replies(activity, featured_cap)
        unanswered = self._with_evidence(self._unanswered(activity))
        newcomers, newcomer_count = self._newcomers()
        numbers = Numbers(
            threads=sum(1 for a in activity.values() if a.opened),
            replies=sum(a.replies for a in activity.values()),
            likes=sum(a.likes for a in activity.values()),
            active_members=active_members,
            new_members=newcomer_count,
        )
        return Digest(
            community=self.community.name,
            period=self.period,
            threads=tuple(threads),
            replies=tuple(replies),
            unanswered=tuple(unanswered),
            newcomers=tuple(newcomers),
            trophies=tuple(self._trophies()),
            numbers=numbers,
            notes=tuple(self._notes()),
        )

    # -- evidence: badges, source requests, notes ----------------------------------------------------

    def _with_evidence(self, entries: list[ThreadEntry]) -> list[ThreadEntry]:
        """The starters' badges and the open source requests on the opening posts, as of the
        period's end (a credential that lapsed later still showed that week)."""
        infos = self._thread_infos([e.thread_id for e in entries])
        found = credentials.badges(self.session, {i.starter_id for i in infos.values()}, self.period.end)
        openings = [i.opening_post_id for i in infos.values() if i.opening_post_id is not None]
        waiting = evidence.open_requests(self.session, openings)
        return [
            dataclasses.replace(
                e,
                starter_badge=found.get(infos[e.thread_id].starter_id),
                source_requests=waiting.get(infos[e.thread_id].opening_post_id or 0, 0),
                opening_post_id=infos[e.thread_id].opening_post_id,
            )
            for e in entries
        ]

    def _notes(self) -> list[NoteEntry]:
        """Notes written in the period under posts the digest may show (public, live, unreported,
        not by or under a muted member), newest first, as many as the digest has entries."""
        reported = select(col(ModCase.post_id)).where(
            col(ModCase.community_id) == self.cid, col(ModCase.post_id).is_not(None)
        )
        conditions = [
            col(PostNote.community_id) == self.cid,
            col(PostNote.created_at) >= self.period.start,
            col(PostNote.created_at) < self.period.end,
            col(PostNote.removed_at).is_(None),
            col(Post.deleted_at).is_(None),
            col(Post.hidden).is_(False),
            col(Post.id).not_in(reported),
            col(Thread.removed).is_(False),
            col(SubForum.private).is_(False),
        ]
        if self.muted:
            conditions += [
                col(PostNote.author_member_id).not_in(self.muted),
                col(Post.member_id).not_in(self.muted),
            ]
        rows = self._run(
            select(
                col(PostNote.author_member_id),
                col(Member.display_name),
                col(PostNote.body),
                col(PostNote.citation),
                col(Thread.id),
                col(Thread.title),
                col(Post.platform),
                col(SubForum.platform_room_id),
                col(Post.platform_message_id),
                col(Thread.platform_thread_id),
            )
            .select_from(PostNote)
            .join(Post, col(Post.id) == col(PostNote.post_id))
            .join(Thread, col(Thread.id) == col(Post.thread_id))
            .join(SubForum, col(SubForum.id) == col(Thread.subforum_id))
            .join(Member, col(Member.id) == col(PostNote.author_member_id))
            .where(*conditions)
            .order_by(col(PostNote.created_at).desc(), col(PostNote.id).desc())
            .limit(self.rules.entries)
        )
        found = credentials.badges(self.session, {row[0] for row in rows}, self.period.end)
        notes = []
        for author_id, name, body, label, thread_id, title, platform, room_id, message_id, thread_ref in rows:
            cited = evidence.citation_from_label(label)
            ref = MessageRef(
                PlatformName(platform), room_id, message_id, thread_ref, self.bindings.get(platform)
            )
            notes.append(
                NoteEntry(
                    author=_short(name, NAME_CHARS),
                    badge=found.get(author_id),
                    body=_short(body, QUOTE_CHARS),
                    citation=cited.label,
                    citation_url=cited.url,
                    thread_id=thread_id,
                    thread_title=_short(title, TITLE_CHARS),
                    ref=ref,
                )
            )
        return notes

    # -- what counts ----------------------------------------------------------------------------------

    def _muted_members(self) -> frozenset[int]:
        """Members under a mute at any moment of the period (lifted or ended ones included)."""
        start, end = self.period.start, self.period.end
        rows = self._scalars(
            select(col(Sanction.member_id)).where(
                col(Sanction.community_id) == self.cid,
                col(Sanction.kind) == "mute",
                col(Sanction.started_at) < end,
                or_(col(Sanction.lifted_at).is_(None), col(Sanction.lifted_at) > start),
                or_(col(Sanction.ends_at).is_(None), col(Sanction.ends_at) > start),
            )
        )
        return frozenset(rows)

    def _post_conditions(self) -> list[ColumnElement[bool]]:
        """What a post must be to count: of the period, shown, counted, never reported, not muted."""
        conditions = [
            col(Post.created_at) >= self.period.start,
            col(Post.created_at) < self.period.end,
            col(Post.deleted_at).is_(None),
            col(Post.hidden).is_(False),
            col(Post.counted).is_(True),
            col(Post.id).not_in(
                select(col(ModCase.post_id)).where(
                    col(ModCase.community_id) == self.cid, col(ModCase.post_id).is_not(None)
                )
            ),
        ]
        if self.muted:
            conditions.append(col(Post.member_id).not_in(self.muted))
        return conditions

    def _thread_conditions(self) -> list[ColumnElement[bool]]:
        """What a thread must be for any of it to count: this community's, not removed, not private."""
        private = select(col(SubForum.id)).where(
            col(SubForum.community_id) == self.cid, col(SubForum.private).is_(True)
        )
        return [
            col(Thread.community_id) == self.cid,
            col(Thread.last_activity_at) >= self.period.start,
            col(Thread.removed).is_(False),
            col(Thread.subforum_id).not_in(private),
        ]

    def _activity(self) -> tuple[dict[int, _ThreadActivity], int]:
        """One aggregate per thread active in the period, and how many members posted at all.

        Driven by the threads, each thread's posts of the period come from the (thread, time) index
        already grouped by thread, so the database never sorts the week's posts; the distinct
        authors of each thread come back as a list, whose union counts the week's active members
        without a second pass. Likes are the posts' own counters (`Post.like_count`, kept by
        ingest), corrected for muted members afterwards.
        """
        opening = case((col(Post.is_opening), 1), else_=0)
        reply_likes = case((col(Post.is_opening), 0), else_=col(Post.like_count))
        rows = self._run(
            select(
                col(Thread.id),
                func.count(),
                self._distinct_authors(),
                func.sum(opening),
                func.sum(col(Post.like_count)),
                func.max(reply_likes),
            )
            .select_from(Thread)
            .join(Post, and_(col(Post.thread_id) == col(Thread.id), *self._post_conditions()))
            .where(*self._thread_conditions())
            .group_by(col(Thread.id))
        )
        activity: dict[int, _ThreadActivity] = {}
        members: set[str] = set()
        for thread_id, posts, authors, opened, likes, best in rows:
            authors = authors.split(",")
            members.update(authors)
            activity[thread_id] = _ThreadActivity(
                int(posts), len(authors), int(opened) > 0, int(likes), int(best)
            )
        return activity, len(members)

    def _distinct_authors(self) -> ColumnElement[str]:
        """The distinct author ids of a group as "3,17,42": SQLite and PostgreSQL spell it apart."""
        if self.session.get_bind().dialect.name == "postgresql":
            return func.string_agg(distinct(sqlalchemy.cast(col(Post.member_id), String)), ",")
        return func.group_concat(distinct(col(Post.member_id)))

    def _discount_muted_likes(self, activity: Mapping[int, _ThreadActivity]) -> None:
        """Take likes by members muted in the period back out: they must not lift anything."""
        if not self.muted:
            return
        rows = self._run(
            select(col(Like.post_id), col(Post.thread_id), func.count())
            .select_from(Like)
            .join(Post, col(Post.id) == col(Like.post_id))
            .where(
                col(Like.member_id).in_(self.muted),
                col(Post.community_id) == self.cid,
                *self._post_conditions(),
            )
            .group_by(col(Like.post_id), col(Post.thread_id))
        )
        for post_id, thread_id, count in rows:
            self.muted_likes[post_id] = int(count)
            if thread_id in activity:
                entry = activity[thread_id]
                entry.likes = max(0, entry.likes - int(count))

    def _capped_replies(self, thread_ids: Sequence[int], activity: Mapping[int, _ThreadActivity]) -> None:
        """Replies per thread counting at most `reply_cap` per member, for a batch of threads."""
        opening = case((col(Post.is_opening), 1), else_=0)
        rows = self._run(
            select(col(Post.thread_id), func.count() - func.sum(opening))
            .where(col(Post.thread_id).in_(thread_ids), *self._post_conditions())
            .group_by(col(Post.thread_id), col(Post.member_id))
        )
        for thread_id in thread_ids:
            activity[thread_id].capped_replies = 0
        for thread_id, replies in rows:
            entry = activity[thread_id]
            entry.capped_replies = (entry.capped_replies or 0) + min(int(replies), self.rules.reply_cap)

    # -- sections ------------------------------------------------------------------------------------

    def _featured(self, activity: Mapping[int, _ThreadActivity], cap: _AuthorCap) -> list[ThreadEntry]:
        """The top threads by score, computing exact scores only as far down as the bounds require.

        Candidates are taken in order of their score's upper bound; a scored thread is accepted
        once no unscored candidate could beat it, so usually only the first batch or two of the
        week's threads ever need the per-member count.
        """
        candidates = sorted(
            (
                (a.bound(), thread_id)
                for thread_id, a in activity.items()
                if a.participants >= self.rules.min_participants
            ),
            key=lambda pair: (-pair[0], -pair[1]),
        )
        scored: list[tuple[float, int, int]] = []  # (-score, -thread id, thread id): a min-heap
        chosen: list[ThreadEntry] = []
        position = 0
        while len(chosen) < self.rules.entries:
            next_bound = candidates[position][0] if position < len(candidates) else -math.inf
            if scored and (-scored[0][0] > next_bound or position >= len(candidates)):
                _, _, thread_id = heapq.heappop(scored)
                info = self._threads[thread_id]
                if cap.take(info.starter_id):
                    a = activity[thread_id]
                    chosen.append(_thread_entry(info, a, a.score()))
                continue
            if position >= len(candidates):
                break
            batch = [thread_id for _, thread_id in candidates[position : position + _DETAIL_BATCH]]
            position += len(batch)
            self._capped_replies(batch, activity)
            infos = self._thread_infos(batch)
            for thread_id in batch:
                if thread_id in infos and infos[thread_id].eligible:
                    heapq.heappush(scored, (-activity[thread_id].score(), -thread_id, thread_id))
        return chosen

    def _unanswered(self, activity: Mapping[int, _ThreadActivity]) -> list[ThreadEntry]:
        """Threads opened in the period in which nobody but the starter has posted (shown) yet."""
        waiting = {thread_id for thread_id, a in activity.items() if a.opened and a.participants == 1}
        if not waiting:
            return []
        opened = self._run(
            select(col(Thread.id), col(Thread.created_at)).where(
                *self._thread_conditions(),
                col(Thread.created_at) >= self.period.start,
                col(Thread.created_at) < self.period.end,
            )
        )
        oldest_first = [t for t, created in sorted(opened, key=lambda r: (r[1], r[0])) if t in waiting]
        cap = _AuthorCap(self.rules.max_per_author)
        chosen: list[ThreadEntry] = []
        for batch in _batches(oldest_first, _DETAIL_BATCH):
            infos = self._thread_infos(batch)
            for thread_id in batch:
                info = infos.get(thread_id)
                if info is not None and info.eligible and cap.take(info.starter_id):
                    chosen.append(_thread_entry(info, activity[thread_id], 0.0))
                    if len(chosen) == self.rules.entries:
                        return chosen
        return chosen

    def _liked_replies(self, activity: Mapping[int, _ThreadActivity], cap: _AuthorCap) -> list[ReplyEntry]:
        """The period's most-liked replies.

        If k threads have a reply with at least n likes, the k most-liked replies all have at least
        n likes too, and sit in threads whose best reply has: so only those replies are read. When
        the rules then leave too few, the floor is lowered (k doubled) until every reply was seen.
        """
        bests = sorted(
            (a.best_reply_likes for a in activity.values() if a.best_reply_likes > 0), reverse=True
        )
        wanted = self.rules.entries * 8
        while bests:
            floor = bests[wanted - 1] if len(bests) > wanted else 1
            chosen = self._replies_from(activity, floor, _AuthorCap(cap.limit, defaultdict(int, cap.used)))
            if len(chosen) == self.rules.entries or floor == 1:
                for reply in chosen:
                    cap.used[self._authors[reply.post_id]] += 1
                return chosen
            wanted *= 2
        return []

    def _replies_from(
        self, activity: Mapping[int, _ThreadActivity], floor: int, cap: _AuthorCap
    ) -> list[ReplyEntry]:
        threads = [t for t, a in activity.items() if a.best_reply_likes >= floor]
        rows: list[tuple[Any, ...]] = []
        for batch in _batches(threads, 500):
            rows += self._run(
                select(
                    col(Post.id),
                    col(Post.thread_id),
                    col(Post.member_id),
                    col(Post.body),
                    col(Post.created_at),
                    col(Post.platform),
                    col(Post.platform_message_id),
                    col(Post.like_count),
                    col(Member.display_name),
                )
                .join(Member, col(Member.id) == col(Post.member_id))
                .where(
                    col(Post.thread_id).in_(batch),
                    col(Post.is_opening).is_(False),
                    col(Post.like_count) >= floor,
                    *self._post_conditions(),
                )
            )
        likes = {row[0]: max(0, int(row[7]) - self.muted_likes.get(row[0], 0)) for row in rows}
        ranked = sorted((row for row in rows if likes[row[0]] > 0), key=lambda r: (-likes[r[0]], r[0]))
        infos = self._thread_infos({row[1] for row in ranked})
        chosen: list[ReplyEntry] = []
        for post_id, thread_id, member_id, body, created_at, platform, message_id, _, author in ranked:
            thread = infos.get(thread_id)
            if thread is None or not thread.eligible or not cap.take(member_id):
                continue
            self._authors[post_id] = member_id
            ref = None
            if thread.ref is not None:
                ref = MessageRef(
                    PlatformName(platform),
                    thread.ref.room_id,
                    message_id,
                    thread.ref.thread_id,
                    thread.ref.community_id,
                )
            chosen.append(
                ReplyEntry(
                    post_id=post_id,
                    author=_short(author, NAME_CHARS),
                    likes=likes[post_id],
                    quote=excerpt(body, QUOTE_CHARS) if body.strip() else "",
                    posted_at=created_at,
                    thread_id=thread_id,
                    thread_title=thread.title,
                    ref=ref,
                    thread_ref=thread.ref,
                )
            )
            if len(chosen) == self.rules.entries:
                break
        return chosen

    def _newcomers(self) -> tuple[list[str], int]:
        joined = func.coalesce(col(Member.joined_at), col(Member.first_seen_at))
        rows = self._run(
            select(col(Member.id), col(Member.display_name))
            .where(
                col(Member.community_id) == self.cid,
                col(Member.is_bot).is_(False),
                joined >= self.period.start,
                joined < self.period.end,
                directory.seen_in_public(),
            )
            .order_by(joined, col(Member.id))
        )
        names = [_short(name, NAME_CHARS) for member_id, name in rows if member_id not in self.muted]
        return names[:NEWCOMER_NAMES], len(names)

    def _trophies(self) -> list[TrophyEntry]:
        rows = self._run(
            select(
                col(TrophyAward.member_id),
                col(Member.display_name),
                col(TrophyAward.trophy_key),
                col(TrophyAward.points),
            )
            .join(Member, col(Member.id) == col(TrophyAward.member_id))
            .where(
                col(Member.community_id) == self.cid,
                col(Member.is_bot).is_(False),
                col(TrophyAward.awarded_at) >= self.period.start,
                col(TrophyAward.awarded_at) < self.period.end,
                directory.seen_in_public(),
            )
            .order_by(col(TrophyAward.awarded_at), col(TrophyAward.id))
        )
        by_member: dict[int, tuple[str, list[str], list[int]]] = {}
        for member_id, name, key, points in rows:
            if member_id in self.muted:
                continue
            _, titles, total = by_member.setdefault(member_id, (name, [], []))
            titles.append(self.trophy_titles.get(key, key))
            total.append(points)
        return [
            TrophyEntry(_short(name, NAME_CHARS), tuple(titles), sum(points))
            for name, titles, points in list(by_member.values())[: self.rules.entries * 2]
        ]

    # -- details of what may be shown ----------------------------------------------------------------

    def _thread_infos(self, thread_ids: Collection[int]) -> dict[int, _ThreadInfo]:
        wanted = [t for t in thread_ids if t not in self._threads]
        for batch in _batches(wanted, _DETAIL_BATCH):
            self._load_threads(batch)
        return {t: self._threads[t] for t in thread_ids if t in self._threads}

    def _load_threads(self, thread_ids: Sequence[int]) -> None:
        # The opening post is a thread's first: found at the front of the (thread, time) index
        # instead of by reading every post of a busy thread for the `is_opening` flag.
        opening_id = (
            select(col(Post.id))
            .where(col(Post.thread_id) == col(Thread.id), col(Post.is_opening))
            .order_by(col(Post.created_at), col(Post.id))
            .limit(1)
            .scalar_subquery()
        )
        rows = self._run(
            select(
                col(Thread.id),
                col(Thread.title),
                col(Thread.created_at),
                col(Thread.starter_member_id),
                col(Thread.platform),
                col(Thread.platform_thread_id),
                col(Thread.removed),
                col(SubForum.name),
                col(SubForum.platform_room_id),
                col(SubForum.private),
                col(Member.display_name),
                opening_id,
            )
            .join(SubForum, col(SubForum.id) == col(Thread.subforum_id))
            .join(Member, col(Member.id) == col(Thread.starter_member_id))
            .where(col(Thread.id).in_(thread_ids), col(Thread.community_id) == self.cid)
        )
        opening_ids = [row[11] for row in rows if row[11] is not None]
        openings = {
            thread_id: (post_id, message_id, deleted_at is None and not hidden)
            for thread_id, post_id, message_id, deleted_at, hidden in self._run(
                select(
                    col(Post.thread_id),
                    col(Post.id),
                    col(Post.platform_message_id),
                    col(Post.deleted_at),
                    col(Post.hidden),
                ).where(col(Post.id).in_(opening_ids))
            )
        }
        reported = set(
            self._scalars(
                select(col(ModCase.post_id)).where(
                    col(ModCase.post_id).in_([o[0] for o in openings.values()])
                )
            )
        )
        for row in rows:
            (thread_id, title, created, starter_id, platform, platform_thread_id, removed) = row[:7]
            subforum, room_id, private, starter = row[7:11]
            opening = openings.get(thread_id)
            eligible = (
                opening is not None
                and opening[2]
                and opening[0] not in reported
                and not removed
                and not private
                and starter_id not in self.muted
            )
            ref = None
            if opening is not None:
                ref = MessageRef(
                    PlatformName(platform),
                    room_id,
                    opening[1],
                    platform_thread_id,
                    self.bindings.get(platform),
                )
            self._threads[thread_id] = _ThreadInfo(
                opening_post_id=opening[0] if opening is not None else None,
                thread_id=thread_id,
                title=_short(title, TITLE_CHARS),
                subforum=_short(subforum, NAME_CHARS),
                starter_id=starter_id,
                starter=_short(starter, NAME_CHARS),
                created_at=created,
                ref=ref,
                eligible=eligible,
            )


def _thread_entry(info: _ThreadInfo, activity: _ThreadActivity, score: float) -> ThreadEntry:
    return ThreadEntry(
        thread_id=info.thread_id,
        title=info.title,
        subforum=info.subforum,
        starter=info.starter,
        started_at=info.created_at,
        replies=activity.replies,
        participants=activity.participants,
        likes=activity.likes,
        score=round(score, 2),
        ref=info.ref,
    )


def _short(text: str, limit: int) -> str:
    return excerpt(text, limit) if len(text) > limit or "\n" in text else text


def _batches(items: Sequence[int], size: int) -> Iterable[list[int]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def build_digest(
    session: Session,
    community: Community,
    period: Period,
    rules: DigestRules,
    trophy_titles: Mapping[str, str] | None = None,
) -> Digest:
    """The digest of `community` over `period`, read in `session` (one consistent snapshot)."""
    return _Builder(session, community, period, rules, trophy_titles or {}).build()
