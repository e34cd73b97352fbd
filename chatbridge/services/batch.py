"""The fast ingest path: replies, reactions and edits applied a batch at a time.

`apply_event` (services/ingest.py) states the rules one event at a time through the ORM; this module
applies the same rules to a run of common events with a handful of set-based statements: load the
state the run touches (posts, threads, members, like sources, trophies) in a few queries, replay
the events in order against that state in memory, then write the difference with executemany.
The replay keeps per-event semantics exactly (an unlike after a like in the same batch, the event
that crosses a trophy threshold), which the replay test checks against an independent model.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from chatbridge.forum.ranks import Trophy
from chatbridge.model import (
    Actor,
    ChatEvent,
    MessageEdited,
    MessagePosted,
    OutgoingMessage,
    ReactionAdded,
    ReactionRemoved,
    Room,
    like_source,
)
from chatbridge.services import directory
from chatbridge.services.awards import JUDGED, AwardCache, Checkpoint, earned, judged_of, judged_slot
from chatbridge.services.privacy_guard import PrivacyGuard, Screened, queue_actions
from chatbridge.store.bulk import Bulk
from chatbridge.store.tables import (
    Identity,
    Like,
    LikeSource,
    Member,
    Post,
    ProcessedEvent,
    Thread,
    TrophyAward,
)

CHUNK = 500
SEND_POSTS_EVERY = 500
"""Posts a run replays before it sends their insert (see `_Run.send_posts`)."""
MEMBER_CACHE_SIZE = 100_000
_MEMBER = Member.__table__  # type: ignore[attr-defined]
_THREAD = Thread.__table__  # type: ignore[attr-defined]
_POST = Post.__table__  # type: ignore[attr-defined]
_SOURCE = LikeSource.__table__  # type: ignore[attr-defined]
_LIKE = Like.__table__  # type: ignore[attr-defined]
_AWARD = TrophyAward.__table__  # type: ignore[attr-defined]
_PROCESSED = ProcessedEvent.__table__  # type: ignore[attr-defined]
_IDENTITY = Identity.__table__  # type: ignore[attr-defined]

MOVED_BY_EVENTS = ("message_count", "likes_received", "likes_given", "threads_started", "replies_to_others")
"""The member counters replies and likes move (trophy points follow the awards)."""

MEMBER_COUNTERS = (*MOVED_BY_EVENTS, "trophy_points")

NoticeParts = tuple[Room, OutgoingMessage, str, str | None]
"""(room, message, idempotency key, thread id): what `services.ingest.Notice` is made of, as the
batch path produces it."""


def is_fast(event: ChatEvent) -> bool:
    """Events this path handles; everything else goes through `apply_event`."""
    if isinstance(event, MessagePosted):
        return not event.actor.is_bot
    return isinstance(event, ReactionAdded | ReactionRemoved)


@dataclass
class MemberCache:
    """Platform identity -> member id, bounded (LRU); ids never change once committed."""

    capacity: int = MEMBER_CACHE_SIZE
    _ids: OrderedDict[tuple[int, str, str], tuple[int, str]] = field(default_factory=OrderedDict)

    def get(self, key: tuple[int, str, str]) -> tuple[int, str] | None:
        found = self._ids.get(key)
        if found is not None:
            self._ids.move_to_end(key)
        return found

    def put_all(self, entries: Iterable[tuple[tuple[int, str, str], tuple[int, str]]]) -> None:
        for key, value in entries:
            self._ids[key] = value
            self._ids.move_to_end(key)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


_counts: Callable[[], defaultdict[str, int]] = partial(defaultdict, int)
"""A fresh tally of counter movements (a `partial`: called for every member and thread a batch
touches, and cheaper than a lambda)."""


@dataclass
class _MemberState:
    """What a run does to one member: its counters' movement, and the events that may have
    earned it a trophy (judged once the counters are written, see services/awards.py)."""

    id: int
    delta: dict[str, int] = field(default_factory=_counts)
    checkpoints: list[Checkpoint] = field(default_factory=list)


@dataclass
class _ThreadState:
    id: int
    platform_thread_id: str
    title: str
    starter: int
    locked: bool
    community_id: int
    last_activity_at: datetime
    delta: dict[str, int] = field(default_factory=_counts)
    last_reply_member_id: int | None = None


@dataclass
class _PostState:
    key: str
    id: int
    thread: _ThreadState
    author: int
    community_id: int
    alive: bool
    counted: bool
    like_delta: int = 0
    sources: dict[int, dict[str, int | None]] = field(default_factory=dict)  # liker -> source -> row id
    initial_likers: frozenset[int] = frozenset()
    new: bool = False
    """Inserted by this run: its likes are written with the row, not by a later update (an
    update of a row inserted in the same transaction re-runs every foreign-key check)."""


@dataclass
class _Standings:
    """What judging a run's trophies starts from (see `_Run._move_members`)."""

    judged: list[_MemberState]
    """The members whose counters an event of the run moved towards a trophy."""
    after: dict[int, tuple[Any, ...]]
    """Member id -> (id, *JUDGED counters, joined_at, first_seen_at, display_name) after the run."""
    awarded: dict[int, frozenset[str]]
    """Member id -> the keys of the trophies it held before the run."""


def actor_time(actor: Actor) -> datetime:
    return actor.joined_at or datetime.now().astimezone()


@dataclass
class BatchResult:
    """What the run produced for each event, in order: (event, notices as (room, message, key, thread))."""

    notices: list[list[NoticeParts]]


@dataclass
class FastPath:
    """Applies runs of fast events; owns the member cache (per ingestor, never global)."""

    like_keys: frozenset[str]
    trophies: Sequence[Trophy]
    render_trophy: Any
    render_locked: Any
    announce: bool
    privacy: PrivacyGuard | None = None
    """The patient-privacy guard every new post passes (None: not checked)."""
    members: MemberCache = field(default_factory=MemberCache)
    awards: AwardCache = field(default_factory=AwardCache)
    _bulk: Bulk | None = None
    checks: list[tuple[Trophy, int | None]] = field(init=False)
    """Each trophy with where its criterion reads (`awards.judged_slot`)."""

    def __post_init__(self) -> None:
        self.checks = [(t, judged_slot(t)) for t in self.trophies]

    rooms: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """Room -> (community id, sub-forum id); ids never change once committed."""
    _pending_members: list[tuple[tuple[int, str, str], tuple[int, str]]] = field(default_factory=list)
    _pending_rooms: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    _pending_awards: dict[int, frozenset[str]] = field(default_factory=dict)

    def committed(self) -> None:
        """The batch's transaction committed: what it created and awarded may now be cached."""
        self.members.put_all(self._pending_members)
        self._pending_members.clear()
        self.rooms.update(self._pending_rooms)
        self._pending_rooms.clear()
        self.awards.put_all(self._pending_awards.items())
        self._pending_awards.clear()

    def rolled_back(self) -> None:
        self._pending_members.clear()
        self._pending_rooms.clear()
        self._pending_awards.clear()

    def lock_communities(self, session: Session, events: Iterable[ChatEvent]) -> None:
        """Take the ingest locks of the communities `events` happen in, as far as they are known
        (see `Bulk.lock_communities`); before anything in the transaction touches a member."""
        bulk = self.bulk(session)
        if bulk.postgres:
            known = (self.rooms.get((e.room.platform, e.room.room_id)) for e in events)
            bulk.lock_communities(session, {place[0] for place in known if place is not None})

    def bulk(self, session: Session) -> Bulk:
        dialect = session.get_bind().dialect
        if self._bulk is None or self._bulk.dialect is not dialect:
            self._bulk = Bulk(dialect)
        return self._bulk

    def apply(self, session: Session, events: Sequence[ChatEvent]) -> BatchResult:
        session.flush()
        bulk = self.bulk(session)
        fresh = _first_deliveries(session, bulk, events)
        run = _Run(self, session, bulk)
        result = BatchResult([[] for _ in events])
        wanted = [(i, e) for i, e in enumerate(events) if i in fresh]
        run.load(e for _, e in wanted)
        if self.privacy is not None:
            communities = {*run.places.values(), *(post.community_id for post in run.posts.values())}
            self.privacy.preload(session, communities)
        with bulk.pipeline(session):
            # PostgreSQL: the server writes the posts replayed so far while the rest is replayed.
            run.reserve([e for _, e in wanted])
            for index, event in wanted:
                result.notices[index] = run.replay(index, event)
                if len(run.unsent) >= SEND_POSTS_EVERY:
                    run.send_posts()
            for index, notices in run.write().items():
                result.notices[index].extend(notices)
        if self.privacy is not None and run.flagged:
            guard = self.privacy
            queue_actions(
                session, [row for screened, where in run.flagged for row in guard.actions(screened, **where)]
            )
            keys = [where["message_id"] for _, where in run.flagged]
            posts = {
                (post.platform, post.platform_message_id): post
                for post in session.exec(select(Post).where(col(Post.platform_message_id).in_(keys))).all()
            }
            for _, where in run.flagged:
                room = where["room"]
                post = posts.get((room.platform.value, where["message_id"]))
                if post is not None:
                    new = not where["edit"]
                    guard.open_case(
                        session, post, room, where["actor"], where["thread_id"], where["now"], new=new
                    )
        return result


def _first_deliveries(session: Session, bulk: Bulk, events: Sequence[ChatEvent]) -> set[int]:
    """Indexes of events seen for the first time (not stored before, not earlier in this run).

    One insert that skips existing keys and returns the ones it wrote: the claim and the check are
    one statement, so two writers sharing a store cannot both take an event.
    """
    rows = [(e.room.platform, e.event_id, e.at) for e in events]
    claimed = {
        (platform, event_id)
        for platform, event_id in bulk.insert(
            session,
            _PROCESSED,
            ("platform", "event_id", "processed_at"),
            rows,
            returning=("platform", "event_id"),
            skip_conflicts=True,
        )
    }
    fresh: set[int] = set()
    for index, (platform, event_id, _at) in enumerate(rows):
        if (platform, event_id) in claimed:
            claimed.discard((platform, event_id))
            fresh.add(index)
    return fresh


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Run:
    """The state one run touches, loaded up front and written back at the end."""

    def __init__(self, path: FastPath, session: Session, bulk: Bulk) -> None:
        self.path = path
        self.session = session
        self.bulk = bulk
        self.places: dict[tuple[str, str], int] = {}
        self.subforums: dict[tuple[str, str], int] = {}
        self.starting: set[tuple[str, str]] = set()
        self.posting: set[tuple[str, str]] = set()
        """Messages posted in this run: a reaction to one needs its actor as much as one to a
        stored post (a newcomer's first act may be liking a post written moments before)."""
        self.new_threads: list[dict[str, Any]] = []
        """Rows of the threads started by the run and not sent yet."""
        self.thread_ids: Iterator[int] = iter(())
        """Ids reserved for the threads the run may start, taken in order (see `reserve`)."""
        self.post_ids: Iterator[int] = iter(())
        """Ids reserved for the posts the run may create, taken in order."""
        self.reacted: set[tuple[str, str]] = set()
        """Messages some reaction of the run is about: posted in the run, they are sent last,
        once their like count is known (see `send_posts`)."""
        self.unsent: list[tuple[_PostState, tuple[Any, ...]]] = []
        self.held: list[tuple[_PostState, tuple[Any, ...]]] = []
        self.member_ids: dict[tuple[int, str, str], int] = {}
        self.members: dict[int, _MemberState] = {}
        self.index = 0
        """The position in the batch of the event being replayed."""
        self.threads: dict[tuple[str, str], _ThreadState] = {}
        self.threads_by_id: dict[int, _ThreadState] = {}
        self.all_threads: list[_ThreadState] = []
        self.posts: dict[tuple[str, str], _PostState] = {}
        self.participants: set[tuple[int, int]] = set()  # (id() of the thread state, member id)
        self.new_source_info: dict[tuple[int, int, str], tuple[str, datetime]] = {}
        self.dropped_sources: list[int] = []
        self.touched_likes: dict[tuple[int, int], tuple[_PostState, int, datetime]] = {}
        self.edits: list[tuple[_PostState, str, datetime]] = []
        self.flagged: list[tuple[Screened, dict[str, Any]]] = []
        """Posts the privacy guard flagged, with where they are: their notices are queued once
        the run's pipeline is done (see `FastPath.apply`)."""
        self.flagged_edits: list[tuple[int, bool, str, bool]] = []
        """(post id, phi_flagged, phi_kinds, hidden) of edits the privacy guard flagged."""

    # -- loading ---------------------------------------------------------------------------------

    def load(self, events: Iterable[ChatEvent]) -> None:
        events = list(events)
        unlocked: set[int] = set()
        for event in events:
            key = (event.room.platform, event.room.community_id)
            room_key = (event.room.platform, event.room.room_id)
            if room_key in self.subforums:
                continue
            known = self.path.rooms.get(room_key)
            if known is None:  # not cached, so its community's lock was not taken with the batch's
                place = directory.resolve_place(self.session, event.room, event.at)
                assert place.community.id is not None and place.subforum is not None
                known = (place.community.id, place.subforum.id or 0)
                self.path._pending_rooms[room_key] = known
                unlocked.add(known[0])
            self.places[key], self.subforums[room_key] = known
        self.bulk.lock_communities(self.session, unlocked)
        self.starting = {
            (e.room.platform, e.thread_id or e.message_id)
            for e in events
            if isinstance(e, MessagePosted) and e.starts_thread
        }
        self.posting = {(e.room.platform, e.message_id) for e in events if isinstance(e, MessagePosted)}
        self._load_threads({(e.room.platform, e.thread_id) for e in events if isinstance(e, MessagePosted)})
        self._load_posts({(e.room.platform, e.message_id) for e in events if hasattr(e, "message_id")})
        # By identity, the latest event's actor winning (its display name is the newest); keyed
        # by strings, not by the actors, whose hash walks all their fields.
        actors: dict[tuple[int, str, str], Actor] = {
            (self.places[(e.room.platform, e.room.community_id)], e.actor.platform, e.actor.user_id): e.actor
            for e in events
            if isinstance(e, MessagePosted | ReactionAdded | ReactionRemoved) and self._needs_actor(e)
        }
        self._resolve_members(actors, events[0].at if events else None)
        self._load_participants(events)

    def _needs_actor(self, event: MessagePosted | ReactionAdded | ReactionRemoved) -> bool:
        platform = event.room.platform
        if isinstance(event, MessagePosted):
            if event.thread_id is None and not event.starts_thread:
                return True  # chat outside threads counts for nothing, but its author is a member
            thread_key = (platform, event.thread_id or event.message_id)
            return thread_key in self.threads or thread_key in self.starting
        if isinstance(event, ReactionAdded) and event.actor.is_bot:
            return False
        if self._like_key(event.emoji) is None:
            return False
        message = (platform, event.message_id)
        return message in self.posts or message in self.posting

    _THREAD_COLUMNS = (
        "id",
        "platform_thread_id",
        "starter_member_id",
        "locked",
        "community_id",
        "last_activity_at",
        "title",
        "platform",
    )

    def _load_threads(self, keys: set[tuple[str, str | None]]) -> None:
        by_platform: dict[str, list[str]] = defaultdict(list)
        for platform, thread_id in keys:
            if thread_id is not None:
                by_platform[platform].append(thread_id)
        for platform, ids in by_platform.items():
            rows = self.bulk.select_in(
                self.session,
                _THREAD,
                self._THREAD_COLUMNS,
                "platform_thread_id",
                ids,
                where={"platform": platform},
                condition="NOT removed",
            )
            for row in rows:
                self._add_thread(row)

    def _add_thread(self, row: tuple[Any, ...]) -> _ThreadState:
        thread_id, key, starter, locked, community_id, activity, title, platform = row
        state = _ThreadState(thread_id, key, title, starter, bool(locked), community_id, activity)
        self.threads[(platform, key)] = state
        self.threads_by_id[thread_id] = state
        self.all_threads.append(state)
        return state

    def _load_posts(self, keys: set[tuple[str, str]]) -> None:
        by_platform: dict[str, list[str]] = defaultdict(list)
        for platform, message_id in keys:
            by_platform[platform].append(message_id)
        missing_threads: set[int] = set()
        loaded: list[tuple[str, tuple[Any, ...]]] = []
        columns = (
            "id",
            "platform_message_id",
            "thread_id",
            "member_id",
            "community_id",
            "deleted_at",
            "counted",
        )
        for platform, ids in by_platform.items():
            rows = self.bulk.select_in(
                self.session, _POST, columns, "platform_message_id", ids, where={"platform": platform}
            )
            for row in rows:
                loaded.append((platform, row))
                if row[2] not in self.threads_by_id:
                    missing_threads.add(row[2])
        for row in self.bulk.select_in(
            self.session, _THREAD, self._THREAD_COLUMNS, "id", missing_threads, condition="NOT removed"
        ):
            self._add_thread(row)
        for platform, row in loaded:
            thread = self.threads_by_id.get(row[2])
            if thread is None:  # a removed thread's posts take no new likes or edits
                continue
            self.posts[(platform, row[1])] = _PostState(
                row[1], row[0], thread, row[3], row[4], row[5] is None, bool(row[6])
            )
        by_id = {p.id: p for p in self.posts.values()}
        sources = self.bulk.select_in(
            self.session, _SOURCE, ("id", "post_id", "member_id", "source"), "post_id", by_id
        )
        for source_id, post_id, member_id, source in sources:
            by_id[post_id].sources.setdefault(member_id, {})[source] = source_id
        for post in by_id.values():
            post.initial_likers = frozenset(m for m, keys in post.sources.items() if keys)

    def _resolve_members(self, actors: dict[tuple[int, str, str], Actor], at: datetime | None) -> None:
        """The member ids of `actors` ((community id, platform, user id) -> actor), created for
        newcomers; display names that changed are updated."""
        cache = self.path.members
        missing: dict[tuple[int, str, str], tuple[int, Actor]] = {}
        renamed: list[tuple[tuple[int, str, str], int, Actor]] = []
        for key, actor in actors.items():
            community_id = key[0]
            cached = cache.get(key)
            if cached is None:
                missing[key] = (community_id, actor)
            else:
                self.member_ids[key] = cached[0]
                if actor.display_name and cached[1] != actor.display_name:
                    renamed.append((key, cached[0], actor))
        found = self._identities(list(missing))
        for key, (member_id, name) in found.items():
            self.member_ids[key] = member_id
            actor = missing.pop(key)[1]
            if actor.display_name and name != actor.display_name:
                renamed.append((key, member_id, actor))
        cache.put_all(found.items())
        if missing:
            self._create_members(missing, at)
        self.session.flush()
        for key, member_id, actor in renamed:
            self.session.execute(
                update(_MEMBER).where(_MEMBER.c.id == member_id).values(display_name=actor.display_name)
            )
            self.session.execute(
                update(_IDENTITY)
                .where(_IDENTITY.c.member_id == member_id, _IDENTITY.c.platform == actor.platform)
                .values(display_name=actor.display_name)
            )
            cache.put_all([(key, (member_id, actor.display_name))])

    def _create_members(
        self, missing: dict[tuple[int, str, str], tuple[int, Actor]], at: datetime | None
    ) -> None:
        """New members in bulk. Another writer may create some of them meanwhile (a second
        shard, a command): their identities are then taken already, so the members made here
        for them are dropped again and the other writer's are used."""
        keys = sorted(missing)
        names = [missing[key][1].display_name or missing[key][1].user_id for key in keys]
        ids = self.bulk.reserve_ids(self.session, _MEMBER, len(keys))
        with self.bulk.pipeline(self.session):
            # Ids known beforehand: the members' insert returns nothing and joins the pipeline
            # (PostgreSQL) ahead of the identities', whose answer is the only one waited for.
            self.bulk.insert(
                self.session,
                _MEMBER,
                (
                    "id",
                    "community_id",
                    "display_name",
                    "joined_at",
                    "first_seen_at",
                    "is_bot",
                    *MEMBER_COUNTERS,
                ),
                [
                    (member_id, key[0], name, actor.joined_at, at or actor_time(actor), actor.is_bot)
                    + (0,) * len(MEMBER_COUNTERS)
                    for member_id, key, name, actor in zip(
                        ids, keys, names, (missing[key][1] for key in keys), strict=True
                    )
                ],
            )
            claimed = self.bulk.insert(
                self.session,
                _IDENTITY,
                ("member_id", "community_id", "platform", "platform_user_id", "display_name"),
                [(member_id, *key, name) for key, member_id, name in zip(keys, ids, names, strict=True)],
                returning=("member_id",),
                skip_conflicts=True,
            )
        mine = {member_id for (member_id,) in claimed}
        lost = [(key, member_id) for key, member_id in zip(keys, ids, strict=True) if member_id not in mine]
        winners: dict[tuple[int, str, str], tuple[int, str]] = {}
        if lost:
            self.bulk.delete(self.session, _MEMBER, ("id",), [(member_id,) for _, member_id in lost])
            winners = self._identities([key for key, _ in lost])
        for key, member_id, name in zip(keys, ids, names, strict=True):
            entry = winners[key] if member_id not in mine else (member_id, name)
            self.member_ids[key] = entry[0]
            self.path._pending_members.append((key, entry))

    def _identities(self, keys: list[tuple[int, str, str]]) -> dict[tuple[int, str, str], tuple[int, str]]:
        """(community id, platform, user id) -> (member id, name) of the stored identities among `keys`."""
        groups: dict[tuple[int, str], list[str]] = defaultdict(list)
        for community_id, platform, user_id in keys:
            groups[(community_id, platform)].append(user_id)
        found: dict[tuple[int, str, str], tuple[int, str]] = {}
        for (community_id, platform), user_ids in groups.items():
            for user_id, member_id, name in self.bulk.select_in(
                self.session,
                _IDENTITY,
                ("platform_user_id", "member_id", "display_name"),
                "platform_user_id",
                user_ids,
                where={"community_id": community_id, "platform": platform},
            ):
                found[(community_id, platform, user_id)] = (member_id, name)
        return found

    def _load_participants(self, events: list[ChatEvent]) -> None:
        pairs = set()
        for event in events:
            if isinstance(event, MessagePosted):
                thread = self.threads.get((event.room.platform, event.thread_id or ""))
                community = self.places[(event.room.platform, event.room.community_id)]
                member = self.member_ids.get((community, event.actor.platform, event.actor.user_id))
                if thread is not None and member is not None:
                    pairs.add((thread.id, member))
        found = self.bulk.select_pairs(
            self.session, _POST, ("thread_id", "member_id"), pairs, condition="t.counted"
        )
        self.participants.update((id(self.threads_by_id[t]), m) for t, m in found)

    def reserve(self, events: Sequence[ChatEvent]) -> None:
        """Reserve ids for the threads and posts the run may create (at most one per message
        posted in a known thread or starting one), so a post's row is complete once replayed and
        can be sent at once (`send_posts`); ids left unused are skipped, as after a rollback."""
        starting = posts = 0
        for event in events:
            if isinstance(event, MessagePosted):
                thread_key = (event.room.platform, event.thread_id or "")
                if event.starts_thread:
                    starting += 1
                    posts += 1
                elif thread_key in self.threads or thread_key in self.starting:
                    posts += 1
            elif isinstance(event, ReactionAdded | ReactionRemoved):
                self.reacted.add((event.room.platform, event.message_id))
        if starting:
            self.thread_ids = iter(self.bulk.reserve_ids(self.session, _THREAD, starting))
        if posts:
            self.post_ids = iter(self.bulk.reserve_ids(self.session, _POST, posts))

    # -- replaying -------------------------------------------------------------------------------

    def _like_key(self, emoji: str) -> str | None:
        return like_source(emoji, self.path.like_keys)

    def _member(self, event: MessagePosted | ReactionAdded | ReactionRemoved) -> _MemberState | None:
        community = self.places[(event.room.platform, event.room.community_id)]
        member_id = self.member_ids.get((community, event.actor.platform, event.actor.user_id))
        return self._state(member_id) if member_id is not None else None

    def _state(self, member_id: int) -> _MemberState:
        state = self.members.get(member_id)
        if state is None:
            state = self.members[member_id] = _MemberState(member_id)
        return state

    def replay(self, index: int, event: ChatEvent) -> list[NoticeParts]:
        """Apply one event to the run's state; the notices it produces at once (trophies are
        judged when the run is written)."""
        self.index = index
        if isinstance(event, MessagePosted):
            return self._posted(event)
        if isinstance(event, ReactionAdded):
            return self._liked(event)
        if isinstance(event, ReactionRemoved):
            self._unliked(event)
        elif isinstance(event, MessageEdited):
            post = self.posts.get((event.room.platform, event.message_id))
            if post is not None and post.alive:
                body = event.text[: 64 * 1024]
                screened = self._screen(event, post.community_id, body, None)
                if screened is not None:
                    body = screened.body
                    self.flagged_edits.append((post.id, True, screened.kinds, True))
                self.edits.append((post, body, event.at))
        return []

    def _screen(
        self, event: MessagePosted | MessageEdited, community_id: int, text: str, thread_id: str | None
    ) -> Screened | None:
        """The privacy guard's verdict (see `services.ingest._screened`); None when clean."""
        guard = self.path.privacy
        if guard is None:
            return None
        screened = guard.decide(guard.policy(self.session, community_id), text)
        if not screened.flagged:
            return None
        self.flagged.append(
            (
                screened,
                {
                    "community_id": community_id,
                    "room": event.room,
                    "actor": event.actor,
                    "message_id": event.message_id,
                    "thread_id": thread_id,
                    "key": f"{event.room.platform.value}:{event.event_id}",
                    "now": event.at,
                    "edit": isinstance(event, MessageEdited),
                },
            )
        )
        return screened

    def _posted(self, event: MessagePosted) -> list[NoticeParts]:
        platform = event.room.platform
        author = self._member(event)
        if author is None or (platform, event.message_id) in self.posts:
            return []
        if event.starts_thread:
            return self._started(event, author)
        thread = self.threads.get((platform, event.thread_id or ""))
        if thread is None:
            return []
        screened = self._screen(event, thread.community_id, event.text[: 64 * 1024], event.thread_id)
        held = screened is not None and screened.hold
        post = self._new_post(
            event, thread, author, opening=False, counted=not (thread.locked or held), screened=screened
        )
        if held:
            return []
        if not post.counted:
            text = self.path.render_locked(thread)
            notice = OutgoingMessage(text, ephemeral=True)
            return [(event.room, notice, f"locked:{event.event_id}", event.thread_id)]
        author.delta["message_count"] += 1
        if (id(thread), author.id) not in self.participants:
            self.participants.add((id(thread), author.id))
            if author.id != thread.starter:
                thread.delta["participant_count"] += 1
        thread.delta["reply_count"] += 1
        thread.last_reply_member_id = author.id
        if author.id != thread.starter:
            author.delta["replies_to_others"] += 1
        thread.last_activity_at = max(thread.last_activity_at, event.at)
        self._checkpoint(author, event.room, event.thread_id, event.at)
        return []

    def _started(self, event: MessagePosted, author: _MemberState) -> list[NoticeParts]:
        """A member opened a thread natively (a forum post, a thread root)."""
        platform = event.room.platform
        thread_key = event.thread_id or event.message_id
        if (platform, thread_key) in self.threads:
            return []
        body = event.text[: 64 * 1024]
        community_id = self.places[(platform, event.room.community_id)]
        given = " ".join(event.thread_title.split()) if event.thread_title is not None else None
        screened = self._screen(
            event, community_id, body if given is None else f"{given}\n{body}", event.thread_id
        )
        if screened is not None:  # the title is checked with the body, and masked with it
            if given is None:
                body = screened.body
            else:
                given, _, body = screened.body.partition("\n")
        first_line = body.strip().splitlines()[0] if body.strip() else "Untitled"
        title = (given or first_line)[:300]
        thread_id = next(self.thread_ids)
        thread = _ThreadState(thread_id, thread_key, title, author.id, False, community_id, event.at)
        self.threads[(platform, thread_key)] = thread
        self.all_threads.append(thread)
        self.new_threads.append(
            {
                "id": thread_id,
                "community_id": community_id,
                "subforum_id": self.subforums[(platform, event.room.room_id)],
                "platform": platform,
                "platform_thread_id": thread_key,
                "title": title,
                "starter_member_id": author.id,
                "created_at": event.at,
                "last_activity_at": event.at,
                "reply_count": 0,
                "like_count": 0,
                "participant_count": 1,
                "locked": False,
                "pinned": False,
                "removed": False,
                "tags": list(event.thread_tags),
            }
        )
        self.participants.add((id(thread), author.id))
        held = screened is not None and screened.hold
        self._new_post(event, thread, author, opening=True, counted=not held, screened=screened, body=body)
        if held:
            return []
        author.delta["message_count"] += 1
        author.delta["threads_started"] += 1
        self._checkpoint(author, event.room, thread_key, event.at)
        return []

    def _new_post(
        self,
        event: MessagePosted,
        thread: _ThreadState,
        author: _MemberState,
        *,
        opening: bool,
        counted: bool,
        screened: Screened | None = None,
        body: str | None = None,
    ) -> _PostState:
        platform = event.room.platform
        post_id = next(self.post_ids)
        post = _PostState(
            event.message_id, post_id, thread, author.id, thread.community_id, True, counted, new=True
        )
        self.posts[(platform, event.message_id)] = post
        row = (
            post_id,
            thread.id,
            thread.community_id,
            author.id,
            platform,
            event.message_id,
            body if body is not None else screened.body if screened is not None else event.text[: 64 * 1024],
            event.at,
            opening,
            counted,
            0,  # the like count (of a post the run's reactions are about: set by `write`)
            screened is not None,  # hidden: a flagged post stays out of digests and shares
            screened is not None,
            screened.kinds if screened is not None else "",
        )
        (self.held if (platform, event.message_id) in self.reacted else self.unsent).append((post, row))
        return post

    def _liked(self, event: ReactionAdded) -> list[NoticeParts]:
        key = self._like_key(event.emoji)
        post = self.posts.get((event.room.platform, event.message_id))
        if key is None or event.actor.is_bot or post is None or not post.alive or not post.counted:
            return []
        liker = self._member(event)
        if liker is None or liker.id == post.author:
            return []
        sources = post.sources.setdefault(liker.id, {})
        if key in sources:
            return []
        had_like = bool(sources)
        sources[key] = None
        self.new_source_info[(id(post), liker.id, key)] = (event.event_id, event.at)
        self.touched_likes[(id(post), liker.id)] = (post, liker.id, event.at)
        if had_like:
            return []
        post.like_delta += 1
        post.thread.delta["like_count"] += 1
        author = self._state(post.author)
        author.delta["likes_received"] += 1
        liker.delta["likes_given"] += 1
        self._checkpoint(author, event.room, post.thread.platform_thread_id, event.at)
        return []

    def _unliked(self, event: ReactionRemoved) -> None:
        key = self._like_key(event.emoji)
        post = self.posts.get((event.room.platform, event.message_id))
        if key is None or post is None:
            return
        liker = self._member(event)
        if liker is None:
            return
        sources = post.sources.get(liker.id, {})
        if key not in sources:
            return
        source_id = sources.pop(key)
        if source_id is not None:
            self.dropped_sources.append(source_id)
        if sources:
            return
        self.touched_likes.setdefault((id(post), liker.id), (post, liker.id, event.at))
        post.like_delta -= 1
        post.thread.delta["like_count"] -= 1
        self._state(post.author).delta["likes_received"] -= 1
        liker.delta["likes_given"] -= 1

    def _checkpoint(self, member: _MemberState, room: Room, thread_id: str | None, at: datetime) -> None:
        """The event being replayed may have earned `member` a trophy: note how far the run has
        moved its counters by now."""
        if self.path.checks:
            member.checkpoints.append(Checkpoint(self.index, judged_of(member.delta), room, thread_id, at))

    # -- writing ---------------------------------------------------------------------------------

    _POST_COLUMNS = (
        "thread_id",
        "community_id",
        "member_id",
        "platform",
        "platform_message_id",
        "body",
        "created_at",
        "is_opening",
        "counted",
        "like_count",
        "hidden",
        "phi_flagged",
        "phi_kinds",
    )

    def send_posts(self) -> None:
        """Send the inserts of the threads and posts replayed so far, threads first.

        On PostgreSQL they join the run's pipeline: the server writes them while the rest of the
        run is replayed. A post that some reaction of the run is about is held until `write`,
        when its like count is known: written with the row, not by a later update (an update of
        a row inserted in the same transaction re-runs every foreign-key check).
        """
        if self.new_threads:
            # Threads are few, and their tags are JSON: they stay on Core.
            self.session.execute(insert(_THREAD), self.new_threads)
            self.new_threads = []
        if self.unsent:
            # Ids known beforehand: the insert returns nothing, so it is a plain executemany on
            # SQLite and joins the pipeline on PostgreSQL.
            self.bulk.insert(
                self.session, _POST, ("id", *self._POST_COLUMNS), [row for _, row in self.unsent]
            )
            self.unsent = []

    def write(self) -> dict[int, list[NoticeParts]]:
        """Write the run's difference; the trophy notices it earned, by event position.

        Inside the run's pipeline (PostgreSQL): the members' counters are moved after the posts,
        and their answer waited for; the remaining writes are sent before the trophies are
        judged, so the server writes them meanwhile (`_award`).
        """
        # The held rows, with the like count their posts have once the run is replayed.
        likes_at = 1 + self._POST_COLUMNS.index("like_count")
        self.unsent.extend(
            (post, (*row[:likes_at], post.like_delta, *row[likes_at + 1 :])) for post, row in self.held
        )
        self.held = []
        self.send_posts()
        standings = self._move_members()
        self._write_rest()
        return self._award(standings)

    def _write_rest(self) -> None:
        """The writes that return nothing: independent of each other, so they may be pipelined."""
        session, bulk = self.session, self.bulk
        bulk.delete(session, _SOURCE, ("id",), [(source_id,) for source_id in self.dropped_sources])
        bulk.insert(
            session,
            _SOURCE,
            ("post_id", "member_id", "source", "platform_event_id", "created_at"),
            [
                (post.id, member_id, key, *self.new_source_info[(id(post), member_id, key)])
                for post in self.posts.values()
                for member_id, keys in post.sources.items()
                for key, source_id in keys.items()
                if source_id is None
            ],
        )
        added, removed = [], []
        for post, member_id, at in self.touched_likes.values():
            before, now = member_id in post.initial_likers, bool(post.sources.get(member_id))
            if now and not before:
                added.append((post.id, member_id, post.author, post.community_id, at))
            elif before and not now:
                removed.append((post.id, member_id))
        bulk.delete(session, _LIKE, ("post_id", "member_id"), removed)
        bulk.insert(
            session, _LIKE, ("post_id", "member_id", "post_author_id", "community_id", "created_at"), added
        )
        self._write_counters()
        last_edit = {id(post): (post.id, body, at) for post, body, at in self.edits}
        bulk.update(session, _POST, "id", list(last_edit.values()), assign=("body", "edited_at"))
        if self.flagged_edits:
            bulk.update(
                session, _POST, "id", self.flagged_edits, assign=("phi_flagged", "phi_kinds", "hidden")
            )

    def _move_members(self) -> _Standings:
        """Move the members' counters; when trophies are judged, each judged member's counters
        as they now are (the update returns them: all the judging needs, see services/awards.py;
        nothing about members is read before the run) and the trophies it holds.

        On PostgreSQL its answer is the one the run waits for; the trophies are then judged while
        the server writes the rest (`_award`).
        """
        moving = [m for m in self.members.values() if m.checkpoints or any(m.delta.values())]
        judging = bool(self.path.checks)
        rows = self.bulk.update(
            self.session,
            _MEMBER,
            "id",
            [(m.id, *(m.delta[name] for name in MOVED_BY_EVENTS)) for m in moving],
            add=MOVED_BY_EVENTS,
            returning=("id", *JUDGED, "joined_at", "first_seen_at", "display_name") if judging else (),
        )
        after = {row[0]: row for row in rows}
        judged = [m for m in moving if m.checkpoints and m.id in after]
        return _Standings(judged, after, self._awarded([m.id for m in judged]) if judging else {})

    def _award(self, standings: _Standings) -> dict[int, list[NoticeParts]]:
        """Judge and write the trophies the run earned; their notices, by event position.

        Notices are rendered before the awards are written (PostgreSQL: while the server still
        writes the run's rows); one whose award turns out to be made elsewhere meanwhile is
        dropped unsent.
        """
        session, bulk = self.session, self.bulk
        wins: list[tuple[int, Trophy, Checkpoint, str | None]] = []
        for member in standings.judged:
            row, awarded = standings.after[member.id], standings.awarded[member.id]
            before = [row[1 + n] - member.delta[name] for n, name in enumerate(JUDGED)]
            joined = row[5] or row[6]
            for trophy, checkpoint in earned(self.path.checks, awarded, before, joined, member.checkpoints):
                text = self.path.render_trophy(row[7], trophy) if self.path.announce else None
                wins.append((member.id, trophy, checkpoint, text))
            self.path._pending_awards[member.id] = awarded
        if not wins:
            return {}
        new = set(
            bulk.insert(
                session,
                _AWARD,
                ("member_id", "trophy_key", "points", "awarded_at"),
                [(member_id, trophy.key, trophy.points, at.at) for member_id, trophy, at, _ in wins],
                returning=("member_id", "trophy_key"),
                skip_conflicts=True,
            )
        )
        points: dict[int, int] = defaultdict(int)
        notices: dict[int, list[NoticeParts]] = defaultdict(list)
        for member_id, trophy, checkpoint, text in wins:
            # Awarded here or, if the insert skipped it, elsewhere meanwhile: held either way.
            self.path._pending_awards[member_id] |= {trophy.key}
            if (member_id, trophy.key) not in new:
                continue
            points[member_id] += trophy.points
            if text is not None:
                key = f"trophy:{member_id}:{trophy.key}"
                notices[checkpoint.position].append(
                    (checkpoint.room, OutgoingMessage(text), key, checkpoint.thread_id)
                )
        bulk.update(session, _MEMBER, "id", list(points.items()), add=("trophy_points",))
        return notices

    def _awarded(self, member_ids: list[int]) -> dict[int, frozenset[str]]:
        """The trophies each member holds: known from an earlier run in this transaction or a
        committed one, else read."""
        cache, pending = self.path.awards, self.path._pending_awards
        held: dict[int, frozenset[str]] = {}
        missing = []
        for member_id in member_ids:
            known = pending.get(member_id)
            if known is None:
                known = cache.get(member_id)
            if known is None:
                missing.append(member_id)
            else:
                held[member_id] = known
        read: dict[int, set[str]] = {member_id: set() for member_id in missing}
        for member_id, key in self.bulk.select_in(
            self.session, _AWARD, ("member_id", "trophy_key"), "member_id", missing
        ):
            read[member_id].add(key)
        held.update((member_id, frozenset(keys)) for member_id, keys in read.items())
        return held

    def _write_counters(self) -> None:
        session, bulk = self.session, self.bulk
        bulk.update(
            session,
            _THREAD,
            "id",
            [
                (
                    t.id,
                    t.delta["reply_count"],
                    t.delta["like_count"],
                    t.delta["participant_count"],
                    t.last_activity_at,
                    t.last_reply_member_id,
                )
                for t in self.all_threads
                if any(t.delta.values()) or t.last_reply_member_id is not None
            ],
            add=("reply_count", "like_count", "participant_count"),
            assign=("last_activity_at",),
            assign_given=("last_reply_member_id",),
        )
        bulk.update(
            session,
            _POST,
            "id",
            [(p.id, p.like_delta) for p in self.posts.values() if p.like_delta and not p.new],
            add=("like_count",),
        )
