"""The rows a stream of chat events leaves in the store, computed without the store.

The raw baselines of `ingest.py` write these rows with the driver alone (sqlite3 executemany,
psycopg COPY): every member, identity, thread, post, like, like source and processed event that
chatbridge ends up holding for the same stream, with the same foreign keys. Writing one thread,
one member and posts that all point at them would keep every index append-only, which real
traffic never is, and would compare chatbridge against rows it does not write.

Trophy awards are left out: which ones a stream earns depends on the configured trophies, and
this model stays independent of chatbridge's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chatbridge.model import ChatEvent, MessagePosted, ReactionAdded, ReactionRemoved

__all__ = ["Equivalent", "equivalent_rows"]


@dataclass
class _Member:
    user_id: str
    name: str
    first_seen_at: datetime
    counters: list[int] = field(default_factory=lambda: [0] * 5)
    """message_count, likes_received, likes_given, threads_started, replies_to_others"""


@dataclass
class _Thread:
    key: str
    room: str
    title: str
    starter: int
    created_at: datetime
    last_activity_at: datetime
    last_reply: int | None = None
    replies: int = 0
    likes: int = 0
    participants: set[int] = field(default_factory=set)


@dataclass
class _Post:
    thread: int
    author: int
    message_id: str
    text: str
    at: datetime
    opening: bool
    likes: int = 0


@dataclass
class Equivalent:
    """Final rows, each table's references given as positions in the other tables' lists."""

    rooms: list[str] = field(default_factory=list)
    members: list[_Member] = field(default_factory=list)
    threads: list[_Thread] = field(default_factory=list)
    posts: list[_Post] = field(default_factory=list)
    likes: dict[tuple[int, int], tuple[str, datetime]] = field(default_factory=dict)
    """(post, liker) -> (the reaction's event id, when): one like source and one like each."""
    processed: list[tuple[str, datetime]] = field(default_factory=list)


def equivalent_rows(events: list[ChatEvent], like_emoji: str = "👍") -> Equivalent:
    """Apply the forum's rules for replies, thread openings, likes and unlikes to `events`."""
    rows = Equivalent()
    member_at: dict[str, int] = {}
    thread_at: dict[str, int] = {}
    post_at: dict[str, int] = {}
    rooms: dict[str, int] = {}

    def member(event: MessagePosted | ReactionAdded | ReactionRemoved) -> int:
        user_id = event.actor.user_id
        if user_id not in member_at:
            member_at[user_id] = len(rows.members)
            rows.members.append(_Member(user_id, event.actor.display_name or user_id, event.at))
        return member_at[user_id]

    for event in events:
        rows.processed.append((event.event_id, event.at))
        rooms.setdefault(event.room.room_id, len(rooms))
        if isinstance(event, MessagePosted):
            author = member(event)
            if event.starts_thread:
                key = event.thread_id or event.message_id
                thread_at[key] = len(rows.threads)
                title = event.thread_title or event.text
                rows.threads.append(
                    _Thread(key, event.room.room_id, title, author, event.at, event.at, participants={author})
                )
                rows.members[author].counters[3] += 1
            else:
                number = thread_at[event.thread_id or ""]
                thread = rows.threads[number]
                thread.replies += 1
                thread.last_reply = author
                thread.last_activity_at = max(thread.last_activity_at, event.at)
                thread.participants.add(author)
                if author != thread.starter:
                    rows.members[author].counters[4] += 1
            rows.members[author].counters[0] += 1
            post_at[event.message_id] = len(rows.posts)
            rows.posts.append(
                _Post(
                    thread_at[event.thread_id or event.message_id],
                    author,
                    event.message_id,
                    event.text,
                    event.at,
                    event.starts_thread,
                )
            )
        elif isinstance(event, ReactionAdded | ReactionRemoved) and event.emoji == like_emoji:
            liker, number = member(event), post_at[event.message_id]
            post = rows.posts[number]
            if liker == post.author:
                continue
            step = 1 if isinstance(event, ReactionAdded) else -1
            if (step == 1) == ((number, liker) in rows.likes):
                continue  # a second like, or an unlike of nothing
            if step == 1:
                rows.likes[(number, liker)] = (event.event_id, event.at)
            else:
                del rows.likes[(number, liker)]
            post.likes += step
            rows.threads[post.thread].likes += step
            rows.members[post.author].counters[1] += step
            rows.members[liker].counters[2] += step
    rows.rooms = sorted(rooms, key=rooms.__getitem__)
    return rows
