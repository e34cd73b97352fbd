"""Applying chat events to the forum: replies counted once, likes one per member, trophies on the
event that earns them.

`apply_event` is the whole rule set, run inside a store transaction; `Ingestor` groups events into
batches (group commit behind a bounded queue), so the bot keeps up with busy communities while
every event is durable soon after it arrives. Every event is applied at most once: its platform id
is recorded in the same transaction as its effects.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from chatbridge.forum.ranks import TrophyConfig
from chatbridge.heap import collection_paused
from chatbridge.model import (
    Actor,
    ChatEvent,
    CommandInvoked,
    CursorMoved,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ModerationObserved,
    OutgoingMessage,
    PlatformName,
    ReactionAdded,
    ReactionRemoved,
    Room,
    RoomSeen,
    ThreadTagsChanged,
    like_source,
)
from chatbridge.render.templates import Renderer
from chatbridge.services import directory, trophies
from chatbridge.services.batch import FastPath, is_fast
from chatbridge.services.moderation import log as modlog
from chatbridge.services.moderation import sanctions
from chatbridge.services.privacy_guard import PrivacyGuard, Screened
from chatbridge.store.engine import DATABASE_UNAVAILABLE, checkpoint, writer_engine
from chatbridge.store.tables import (
    Like,
    LikeSource,
    Member,
    PlatformCursor,
    Post,
    ProcessedEvent,
    SubForum,
    Thread,
)
from chatbridge.store.types import utcnow
from chatbridge.waiting import get_within

log = logging.getLogger(__name__)

COMMAND_LIKE_SOURCE = "command"
MAX_BODY_CHARS = 64 * 1024


class StoreUnavailable(Exception):
    """The store could not be reached, or stayed locked, past the ingestor's retries: nothing of
    the event was stored, and it should be delivered again once the store is back."""


class EventRefused(Exception):
    """Applying the event failed for a reason of its own (a poison event); it was logged once, by
    its id, and skipped: delivering it again would fail the same way."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the bot should say because of an event (a locked thread, a trophy)."""

    room: Room
    message: OutgoingMessage
    key: str
    thread_id: str | None = None
    reply_to: CommandInvoked | None = None


@dataclass(frozen=True, slots=True)
class IngestRules:
    """The community's settings that decide what an event means."""

    like_keys: frozenset[str]
    trophies: TrophyConfig
    renderer: Renderer
    announce_trophies: bool = True
    privacy: PrivacyGuard | None = None
    """The patient-privacy guard every new or edited post passes (None: not checked)."""


def apply_event(session: Session, event: ChatEvent, rules: IngestRules, now: datetime) -> list[Notice]:
    """Apply one event to the store; returns what the bot should say about it."""
    if isinstance(event, RoomSeen):
        directory.announce_room(
            session, event.room, private=event.private, at=event.at, community_name=event.community_name
        )
        return []
    if isinstance(event, CursorMoved):
        _move_cursor(session, event)
        return []
    if isinstance(event, ThreadTagsChanged):
        _retag(session, event)
        return []
    if not first_delivery(session, event):
        return []
    match event:
        case MessagePosted():
            return _posted(session, event, rules)
        case MessageEdited():
            _edited(session, event, rules)
        case MessageDeleted():
            _deleted(session, event)
        case ReactionAdded():
            return _reacted(session, event, rules)
        case ReactionRemoved():
            _unreacted(
                session, event.room, event.actor, event.message_id, _like_key(event.emoji, rules), event.at
            )
        case MemberJoined():
            place = directory.resolve_place(session, event.room, now)
            joined = directory.resolve_member(session, place.community, event.actor, event.at)
            directory.seen_in(joined, place)
            sanctions.member_joined(session, joined, event, now)
        case MemberLeft():
            pass
        case ModerationObserved():
            modlog.observed(session, event)
        case _:
            log.warning("ignored an event of unknown kind %s", type(event).__name__)
    return []


def _retag(session: Session, event: ThreadTagsChanged) -> None:
    """Follow the platform's tags: a thread's set as it is now, or a room's tag renamed or
    removed on each of its threads (a room's threads are read once; tag changes are rare)."""
    platform = event.room.platform.value
    if event.thread_id is not None:
        thread = directory.find_thread(session, event.room.platform, event.thread_id)
        if thread is not None and thread.tags != list(event.tags):
            thread.tags = list(event.tags)
        return
    renamed, removed = dict(event.renamed), set(event.removed)
    subforum_id = session.exec(
        select(SubForum.id).where(
            SubForum.platform == platform, SubForum.platform_room_id == event.room.room_id
        )
    ).first()
    if subforum_id is None or not (renamed or removed):
        return
    for thread in session.exec(select(Thread).where(Thread.subforum_id == subforum_id)).all():
        if not thread.tags:
            continue
        kept = list(dict.fromkeys(renamed.get(tag, tag) for tag in thread.tags if tag not in removed))
        if kept != thread.tags:
            thread.tags = kept


def _move_cursor(session: Session, event: CursorMoved) -> None:
    """Store an adapter's stream position; it arrives after the events it covers (FIFO)."""
    key = (event.room.platform.value, event.scope)
    cursor = session.get(PlatformCursor, key)
    if cursor is None:
        session.add(PlatformCursor(platform=key[0], scope=key[1], value=event.value, updated_at=event.at))
    else:
        cursor.value, cursor.updated_at = event.value, event.at


def first_delivery(session: Session, event: ChatEvent) -> bool:
    """Record the platform's event id; False when this event was already applied (a redelivery).

    One insert that skips an existing key (no savepoint round trips: every command starts here).
    """
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    table = ProcessedEvent.__table__  # type: ignore[attr-defined]
    written = session.execute(
        insert(table)
        .values(platform=event.room.platform.value, event_id=event.event_id, processed_at=utcnow())
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    ).first()
    return written is not None


def _like_key(emoji: str, rules: IngestRules) -> str | None:
    return like_source(emoji, rules.like_keys)


def find_post(session: Session, platform: PlatformName, message_id: str) -> Post | None:
    return session.exec(
        select(Post).where(Post.platform == platform.value, Post.platform_message_id == message_id)
    ).first()


def _post(session: Session, room: Room, message_id: str) -> Post | None:
    return find_post(session, room.platform, message_id)


def has_liked(session: Session, platform: PlatformName, message_id: str, member: Member) -> bool:
    post = find_post(session, platform, message_id)
    return post is not None and session.get(Like, (post.id, member.id)) is not None


def _posted(session: Session, event: MessagePosted, rules: IngestRules) -> list[Notice]:
    if event.actor.is_bot:
        return []
    body = event.text[:MAX_BODY_CHARS]
    if event.starts_thread:
        return _start_thread(session, event, body, rules)
    found = directory.find_thread(session, event.room.platform, event.thread_id)
    if event.thread_id is None:
        # Chat outside any thread counts for nothing, but its author becomes a known member, so a
        # moderator can name them (`mute @troll:server …`) and "Joined" is when they first spoke.
        place = directory.resolve_place(session, event.room, event.at)
        directory.resolve_member(session, place.community, event.actor, event.at)
        return []
    if found is None or found.removed:
        return []
    thread = found
    place = directory.resolve_place(session, event.room, event.at)
    author = directory.resolve_member(session, place.community, event.actor, event.at)
    screened = _screened(session, event, thread.community_id, body, rules)
    held = screened is not None and screened.hold
    if screened is not None:
        body = screened.body
    if thread.locked or held:
        post = add_post(session, thread, author, event.room, event.message_id, body, event.at, counted=False)
        _mark(session, post, screened, event, rules)
        if held:
            return []
        text = rules.renderer.render("notices/locked.md.j2", thread=thread)
        return [
            Notice(
                event.room, OutgoingMessage(text, ephemeral=True), f"locked:{event.event_id}", event.thread_id
            )
        ]
    post = add_post(session, thread, author, event.room, event.message_id, body, event.at)
    _mark(session, post, screened, event, rules)
    return trophies.check(session, author, rules, event.room, event.thread_id, event.at)


def _screened(
    session: Session, event: MessagePosted | MessageEdited, community_id: int, body: str, rules: IngestRules
) -> Screened | None:
    """The privacy guard's verdict on a post's text; None when it is clean (or not checked)."""
    if rules.privacy is None:
        return None
    screened = rules.privacy.screen(
        session,
        community_id=community_id,
        room=event.room,
        actor=event.actor,
        message_id=event.message_id,
        thread_id=getattr(event, "thread_id", None),
        text=body,
        key=f"{event.room.platform.value}:{event.event_id}",
        now=event.at,
        edit=isinstance(event, MessageEdited),
    )
    return screened if screened.flagged else None


def _mark(
    session: Session,
    post: Post,
    screened: Screened | None,
    event: MessagePosted | MessageEdited,
    rules: IngestRules,
) -> None:
    """Record the guard's verdict on the post: a flagged post is hidden from digests and shares,
    and goes to the moderators' queue."""
    if screened is None and not post.phi_flagged:
        return
    post.phi_flagged = post.hidden = screened is not None
    post.phi_kinds = screened.kinds if screened is not None else ""
    if screened is not None and rules.privacy is not None:
        session.flush()
        thread_id = event.thread_id if isinstance(event, MessagePosted) else None
        new = isinstance(event, MessagePosted)
        rules.privacy.open_case(session, post, event.room, event.actor, thread_id, event.at, new=new)


def _start_thread(session: Session, event: MessagePosted, body: str, rules: IngestRules) -> list[Notice]:
    """A member opened a thread natively (a Discord forum post, a Matrix thread root)."""
    place = directory.resolve_place(session, event.room, event.at)
    author = directory.resolve_member(session, place.community, event.actor, event.at)
    assert place.community.id is not None and place.subforum is not None and place.subforum.id is not None
    assert author.id is not None
    title = event.thread_title
    if title is not None:
        title = " ".join(title.split())  # one line, so that it is checked (and masked) with the body
    screened = _screened(
        session, event, place.community.id, body if title is None else f"{title}\n{body}", rules
    )
    if screened is not None:
        if title is None:
            body = screened.body
        else:
            title, _, body = screened.body.partition("\n")
    first_line = body.strip().splitlines()[0] if body.strip() else "Untitled"
    thread = Thread(
        community_id=place.community.id,
        subforum_id=place.subforum.id,
        platform=event.room.platform.value,
        platform_thread_id=event.thread_id or event.message_id,
        title=(title or first_line)[:300],
        tags=list(event.thread_tags),
        starter_member_id=author.id,
        created_at=event.at,
        last_activity_at=event.at,
        participant_count=1,
    )
    session.add(thread)
    session.flush()
    held = screened is not None and screened.hold
    post = add_post(
        session, thread, author, event.room, event.message_id, body, event.at, opening=True, counted=not held
    )
    _mark(session, post, screened, event, rules)
    if held:
        return []
    author.threads_started += 1
    return trophies.check(session, author, rules, event.room, thread.platform_thread_id, event.at)


def add_post(
    session: Session,
    thread: Thread,
    author: Member,
    room: Room,
    message_id: str,
    body: str,
    at: datetime,
    *,
    opening: bool = False,
    counted: bool = True,
) -> Post:
    """Store a post and, when it counts, every counter it moves."""
    assert thread.id is not None and author.id is not None
    first_in_thread = (
        counted
        and not opening
        and session.exec(
            select(Post.id).where(Post.thread_id == thread.id, Post.member_id == author.id, col(Post.counted))
        ).first()
        is None
    )
    post = Post(
        thread_id=thread.id,
        community_id=thread.community_id,
        member_id=author.id,
        platform=room.platform.value,
        platform_message_id=message_id,
        body=body,
        created_at=at,
        is_opening=opening,
        counted=counted,
    )
    session.add(post)
    if not counted:
        return post
    author.message_count += 1
    if not opening:
        if first_in_thread and author.id != thread.starter_member_id:
            thread.participant_count += 1
        thread.reply_count += 1
        thread.last_reply_member_id = author.id
        if author.id != thread.starter_member_id:
            author.replies_to_others += 1
    thread.last_activity_at = max(thread.last_activity_at, at)
    session.flush()
    return post


def _edited(session: Session, event: MessageEdited, rules: IngestRules) -> None:
    """Follow an edit; only the author's own edit counts (a platform may relay others' claims)."""
    post = _post(session, event.room, event.message_id)
    if post is None or post.deleted_at is not None:
        return
    if event.actor is not None:
        place = directory.resolve_place(session, event.room, event.at)
        editor = directory.resolve_member(session, place.community, event.actor, event.at)
        if editor.id != post.member_id:
            log.info("ignored an edit of %s by someone other than its author", event.message_id)
            return
    body = event.text[:MAX_BODY_CHARS]
    screened = _screened(session, event, post.community_id, body, rules)
    post.body = screened.body if screened is not None else body
    post.edited_at = event.at
    _mark(session, post, screened, event, rules)


def _deleted(session: Session, event: MessageDeleted) -> None:
    source = session.exec(select(LikeSource).where(LikeSource.platform_event_id == event.message_id)).first()
    if source is not None:  # a Matrix redaction of a reaction
        _remove_like_source(session, source, event.at)
        return
    post = _post(session, event.room, event.message_id)
    if post is None or post.deleted_at is not None:
        return
    remove_post(session, post, event.at)


def remove_post(session: Session, post: Post, at: datetime) -> None:
    """Soft-delete a post and take it out of every count (its likes included)."""
    post.deleted_at = at
    thread = session.get(Thread, post.thread_id)
    author = session.get(Member, post.member_id)
    assert thread is not None and author is not None
    for like in session.exec(select(Like).where(Like.post_id == post.id)).all():
        _drop_like_counts(session, like, post, thread, author)
        session.delete(like)
    for source in session.exec(select(LikeSource).where(LikeSource.post_id == post.id)).all():
        session.delete(source)
    if post.is_opening and not thread.removed:
        # As on the forum, deleting a thread's first post deletes the thread: its replies leave every count.
        thread.removed = True
        for reply in session.exec(
            select(Post).where(
                Post.thread_id == thread.id, col(Post.is_opening).is_(False), col(Post.deleted_at).is_(None)
            )
        ).all():
            remove_post(session, reply, at)
    if not post.counted:
        return
    post.counted = False
    author.message_count -= 1
    if not post.is_opening:
        thread.reply_count -= 1
        if author.id != thread.starter_member_id:
            author.replies_to_others -= 1
        session.flush()
        remaining = session.exec(
            select(Post.id).where(Post.thread_id == thread.id, Post.member_id == author.id, col(Post.counted))
        ).first()
        if remaining is None and author.id != thread.starter_member_id:
            thread.participant_count -= 1
        last = session.exec(
            select(Post)
            .where(Post.thread_id == thread.id, col(Post.counted), col(Post.is_opening).is_(False))
            .order_by(col(Post.created_at).desc(), col(Post.id).desc())
        ).first()
        thread.last_reply_member_id = last.member_id if last else None
    else:
        author.threads_started -= 1
    session.flush()


def _reacted(session: Session, event: ReactionAdded, rules: IngestRules) -> list[Notice]:
    key = _like_key(event.emoji, rules)
    if key is None or event.actor.is_bot:
        return []
    return add_like(session, event.room, event.actor, event.message_id, key, event.at, rules, event.event_id)


def add_like(
    session: Session,
    room: Room,
    actor: Actor,
    message_id: str,
    source_key: str,
    at: datetime,
    rules: IngestRules,
    platform_event_id: str | None = None,
) -> list[Notice]:
    """Record one like source; the like itself exists while the member has at least one source."""
    post = _post(session, room, message_id)
    if post is None or post.deleted_at is not None or not post.counted:
        return []
    place = directory.resolve_place(session, room, at)
    liker = directory.resolve_member(session, place.community, actor, at)
    if liker.id == post.member_id:
        return []
    assert post.id is not None and liker.id is not None
    try:
        with session.begin_nested():
            session.add(
                LikeSource(
                    post_id=post.id,
                    member_id=liker.id,
                    source=source_key,
                    platform_event_id=platform_event_id,
                    created_at=at,
                )
            )
    except IntegrityError:
        return []
    if session.get(Like, (post.id, liker.id)) is not None:
        return []
    session.add(
        Like(
            post_id=post.id,
            member_id=liker.id,
            post_author_id=post.member_id,
            community_id=post.community_id,
            created_at=at,
        )
    )
    thread = session.get(Thread, post.thread_id)
    author = session.get(Member, post.member_id)
    assert thread is not None and author is not None
    post.like_count += 1
    thread.like_count += 1
    author.likes_received += 1
    liker.likes_given += 1
    session.flush()
    return trophies.check(session, author, rules, room, thread.platform_thread_id, at)


def _unreacted(
    session: Session, room: Room, actor: Actor, message_id: str, source_key: str | None, at: datetime
) -> None:
    if source_key is None:
        return
    remove_like(session, room, actor, message_id, source_key, at)


def remove_like(
    session: Session, room: Room, actor: Actor, message_id: str, source_key: str, at: datetime
) -> bool:
    """Drop one like source; the like goes when the member's last source goes. True if it did."""
    post = _post(session, room, message_id)
    if post is None:
        return False
    place = directory.resolve_place(session, room, at)
    liker = directory.resolve_member(session, place.community, actor, at)
    source = session.exec(
        select(LikeSource).where(
            LikeSource.post_id == post.id, LikeSource.member_id == liker.id, LikeSource.source == source_key
        )
    ).first()
    if source is None:
        return False
    return _remove_like_source(session, source, at)


def _remove_like_source(session: Session, source: LikeSource, at: datetime) -> bool:
    session.delete(source)
    session.flush()
    others = session.exec(
        select(LikeSource.id).where(
            LikeSource.post_id == source.post_id, LikeSource.member_id == source.member_id
        )
    ).first()
    if others is not None:
        return False
    like = session.get(Like, (source.post_id, source.member_id))
    post = session.get(Post, source.post_id)
    if like is None or post is None:
        return False
    thread = session.get(Thread, post.thread_id)
    author = session.get(Member, post.member_id)
    assert thread is not None and author is not None
    _drop_like_counts(session, like, post, thread, author)
    session.delete(like)
    session.flush()
    return True


def _drop_like_counts(session: Session, like: Like, post: Post, thread: Thread, author: Member) -> None:
    liker = session.get(Member, like.member_id)
    post.like_count -= 1
    thread.like_count -= 1
    author.likes_received -= 1
    if liker is not None:
        liker.likes_given -= 1


@dataclass(frozen=True, slots=True)
class _Named:
    """What the trophy template needs of a member on the batch path, where no ORM row is loaded."""

    display_name: str


@dataclass
class _Pending:
    event: ChatEvent
    done: asyncio.Future[list[Notice]]
    arrived: float
    """The event loop's clock when the event was submitted: a batch's wait is counted from it."""


BatchWatch = Callable[[Session, list[ChatEvent], datetime], None]
"""Something that looks at each batch once it is applied, in its transaction (pile-on detection)."""


@dataclass
class Ingestor:
    """Group commit: events queue up (bounded, so producers wait instead of memory growing) and a
    single writer applies them in batches, each batch one transaction. A batch is written once it
    is full or its oldest event has waited `max_delay`, whichever comes first.
    """

    engine: Engine
    rules: IngestRules
    clock: Callable[[], datetime]
    max_batch: int = 8000
    """Events per transaction at most. A batch costs per member and thread it touches more than
    per event, so under load a larger one is cheaper per event (the size is a trade against peak
    RSS, measured by `benchmarks/ingest.py`); at ordinary rates batches stay small anyway."""
    max_delay: float = 0.02
    queue_size: int = 8000
    """Events waiting at most (then producers wait): what lets a batch fill up under load, and
    the bound on the memory they take (about 2 KB each with their producer's task)."""
    unavailable_retries: int = 8
    """Times a batch is tried again while the database is unavailable (pauses double from
    `retry_pause` up to 5 s, about 20 s in all) before its events are handed back to their
    producers as `StoreUnavailable`, to be delivered again once the store is back."""
    retry_pause: float = 0.1
    checkpoint_every: int = 1000
    """Events written between two WAL checkpoints at most (SQLite; see `store.engine.checkpoint`)."""
    checkpoint_interval: float = 10.0
    """Seconds between two WAL checkpoints at most, when fewer events than that arrive."""
    watch: BatchWatch | None = None
    """Called with each applied batch before it commits, so what it stores is as durable as the
    events (and a redelivered event, applied once, is watched once as a rule)."""
    _queue: asyncio.Queue[_Pending] = field(init=False)

    _fast: FastPath = field(init=False)
    _writes: Engine = field(init=False)
    """Where batches are written: the store, through connections of the writer's own."""
    _writer: ThreadPoolExecutor | None = field(init=False, default=None)
    _unchecked: int = field(init=False, default=0)
    """Events written since the last checkpoint."""
    _checked_at: float = field(init=False, default=0.0)
    """When the last checkpoint ran (or the writer started), on the event loop's clock."""

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._writes = writer_engine(self.engine)
        renderer = self.rules.renderer
        self._fast = FastPath(
            like_keys=self.rules.like_keys,
            trophies=self.rules.trophies.trophies,
            render_trophy=lambda name, trophy: renderer.render(
                "notices/trophy.md.j2", member=_Named(name), trophy=trophy
            ),
            render_locked=lambda thread: renderer.render("notices/locked.md.j2", thread=thread),
            announce=self.rules.announce_trophies,
            privacy=self.rules.privacy,
        )

    async def submit(self, event: ChatEvent) -> list[Notice]:
        """Queue an event and wait until it is durable; returns the notices it produced."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Notice]] = loop.create_future()
        await self._queue.put(_Pending(event, done, loop.time()))
        return await done

    async def run(self) -> None:
        """The writer loop; runs until cancelled, then drains what is already queued.

        Batches are applied on one dedicated thread: one SQLite connection stays warm, and memory
        is not spread over the arenas of a pool of threads.
        """
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
                self._writer = writer
                self._checked_at = asyncio.get_running_loop().time()
                await self._loop()
        finally:
            if self._writes is not self.engine:
                self._writes.dispose()  # its connections reopen if the writer runs again

    async def _loop(self) -> None:
        try:
            while True:
                batch = [await self._queue.get()]
                # Counted from the oldest event's arrival, not from now: events that queued up
                # while the previous batch was written have waited already, and go at once.
                deadline = batch[0].arrived + self.max_delay
                while len(batch) < self.max_batch:
                    # Take what is already queued without a timed wait per item (a timeout
                    # context per event costs more than the rest of the hand-over).
                    while len(batch) < self.max_batch and not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                    if len(batch) >= self.max_batch:
                        break
                    item = await get_within(self._queue, deadline - asyncio.get_running_loop().time())
                    if item is None:
                        break
                    batch.append(item)
                await self._write(batch)
                await self._checkpoint_when_due(len(batch))
        finally:
            rest: list[_Pending] = []
            while not self._queue.empty():
                rest.append(self._queue.get_nowait())
            if rest:
                await self._write(rest)

    async def _in_writer(
        self, work: Callable[[list[ChatEvent]], list[list[Notice] | BaseException]], events: list[ChatEvent]
    ) -> list[list[Notice] | BaseException]:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work, events)

    async def _checkpoint_when_due(self, written: int) -> None:
        """Checkpoint a SQLite store's WAL after a batch was handed back, when enough was written.

        On the writer's thread, so the next batch waits for it, and the WAL starts over instead
        of growing; but its producers are already answered, and the event loop takes their next
        events meanwhile (the checkpoint runs in SQLite, without the GIL).
        """
        if self._writes is self.engine:  # PostgreSQL, or a SQLite store that checkpoints on commit
            return
        self._unchecked += written
        now = asyncio.get_running_loop().time()
        if self._unchecked < self.checkpoint_every and now - self._checked_at < self.checkpoint_interval:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, checkpoint, self._writes)
        except (DBAPIError, self._writes.dialect.loaded_dbapi.Error) as error:
            # Nothing is lost: the pages stay in the WAL, and the next checkpoint copies them.
            log.warning("ingest: could not checkpoint the store (%s); trying again later", error)
        self._unchecked, self._checked_at = 0, now

    async def _write(self, batch: list[_Pending]) -> None:
        events = [p.event for p in batch]
        pause = self.retry_pause
        results: list[list[Notice] | BaseException]
        for attempt in range(self.unavailable_retries + 1):
            try:
                results = await self._in_writer(self._apply_batch, events)
                break
            except DATABASE_UNAVAILABLE as error:
                # The store is unavailable (SQLite locked past its busy timeout by a long
                # transaction, PostgreSQL restarting): not the events' fault. Keep them queued
                # (producers wait) and try the same batch again, rather than failing each event.
                if attempt == self.unavailable_retries:
                    self._hand_back(batch, error)
                    return
                log.warning(
                    "ingest: the database is unavailable (%s); retrying %d events in %.1f s",
                    error.orig,
                    len(batch),
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
            except Exception as error:
                # The kind only: a database error's message shows the values it was given.
                log.warning(
                    "a batch of %d events failed (%s); applying them one by one",
                    len(batch),
                    type(error).__name__,
                )
                results = await self._in_writer(self._apply_one_by_one, events)
                break
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():
                if isinstance(result, BaseException):
                    pending.done.set_exception(result)
                else:
                    pending.done.set_result(result)

    def _hand_back(self, batch: list[_Pending], error: BaseException) -> None:
        """Fail the batch, and every event queued behind it, as unavailable: their producers keep
        their positions and deliver them again. Failing the queued ones too keeps the order: none
        of them is applied (a reply) while one before it (its thread's start) is still missing."""
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        log.error(
            "ingest: the database stayed unavailable (%s); %d events handed back to be delivered again",
            getattr(error, "orig", error),
            len(batch),
        )
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(StoreUnavailable("the store is unavailable"))

    def _apply_batch(self, events: list[ChatEvent]) -> list[list[Notice] | BaseException]:
        """One transaction: runs of common events take the set-based path, the rest the ORM rules.

        With the cyclic garbage collector paused: a batch's working state is alive until the
        batch ends and is then freed by reference counting, so walking it finds nothing (see
        `heap.collection_paused`).
        """
        with collection_paused():
            return self._apply_batch_now(events)

    def _apply_batch_now(self, events: list[ChatEvent]) -> list[list[Notice] | BaseException]:
        now = self.clock()
        dbapi = self._writes.dialect.loaded_dbapi  # the driver: the set-based path raises its errors
        results: list[list[Notice] | BaseException] = []
        try:
            with Session(self._writes, expire_on_commit=False) as session:
                self._fast.lock_communities(session, events)
                start = 0
                while start < len(events):
                    end = start
                    while end < len(events) and is_fast(events[end]):
                        end += 1
                    if end > start:
                        applied = self._fast.apply(session, events[start:end])
                        session.expire_all()  # the ORM's copies of counters are stale now
                        results.extend([Notice(*n) for n in notices] for notices in applied.notices)
                        start = end
                    else:
                        results.append(apply_event(session, events[start], self.rules, now))
                        start += 1
                if self.watch is not None:
                    self.watch(session, events, now)
                session.commit()
        except dbapi.Error as error:
            # The set-based statements run on the driver's cursor, so their errors arrive unwrapped;
            # wrapped like the ORM's, a deadlock or a lost connection is retried as unavailable.
            self._fast.rolled_back()
            raise DBAPIError.instance(None, None, error, dbapi.Error) from error
        except BaseException:
            self._fast.rolled_back()
            raise
        self._fast.committed()
        return results

    def _apply_one_by_one(self, events: list[ChatEvent]) -> list[list[Notice] | BaseException]:
        """Isolate a poison event so one bad payload cannot take its whole batch down; if the
        store becomes unavailable meanwhile, that event and the rest are handed back."""
        results: list[list[Notice] | BaseException] = []
        for index, event in enumerate(events):
            try:
                results.extend(self._apply_batch([event]))
            except DATABASE_UNAVAILABLE:
                log.warning(
                    "ingest: the database became unavailable; %d events handed back", len(events) - index
                )
                results.extend(StoreUnavailable("the store is unavailable") for _ in events[index:])
                break
            except Exception as error:
                _log_refused(event, error)
                results.append(EventRefused(event.event_id))
        return results


def _log_refused(event: ChatEvent, error: BaseException) -> None:
    """Once, by the event's id and the error's kind and place: never its message, which may quote
    the event's text (a database error shows the values it was given)."""
    where = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "event %s (%s) could not be applied and is skipped: %s\n%s",
        event.event_id,
        type(event).__name__,
        type(error).__name__,
        where,
    )
