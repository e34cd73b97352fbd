"""Threads: finding, listing and describing them the way the forum did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from chatbridge.errors import NotFound
from chatbridge.store.tables import Community, Member, Post, SubForum, Thread

ThreadOrder = Literal["latest", "replies", "likes"]
_ORDER = {
    "latest": (col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
    "replies": (col(Thread.reply_count).desc(), col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
    "likes": (col(Thread.like_count).desc(), col(Thread.last_activity_at).desc(), col(Thread.id).desc()),
}


@dataclass(frozen=True, slots=True)
class ThreadCard:
    """A thread with the names its card shows, read in one query."""

    thread: Thread
    subforum_name: str
    starter_name: str
    last_reply_name: str | None


def find(session: Session, community: Community, text: str) -> Thread:
    """A thread named by its number ("#12") or by (the start of) its title."""
    wanted = text.strip()
    number = wanted.removeprefix("#")
    if number.isdigit():
        thread = session.get(Thread, int(number))
        if thread is not None and thread.community_id == community.id and not thread.removed:
            return thread
        raise NotFound(f"There is no thread #{number} here.")
    base = select(Thread).where(Thread.community_id == community.id, col(Thread.removed).is_(False))
    exact = session.exec(base.where(func.lower(Thread.title) == wanted.lower())).first()
    if exact is not None:
        return exact
    pattern = _like_pattern(wanted.lower())
    matches = session.exec(
        base.where(func.lower(Thread.title).like(pattern, escape="\\"))
        .order_by(col(Thread.last_activity_at).desc())
        .limit(6)
    ).all()
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"I can't find a thread called “{wanted}”.")
    options = "; ".join(f"#{t.id} {t.title}" for t in matches[:5])
    raise NotFound(f"Several threads match “{wanted}”: {options}. Use the number, like #{matches[0].id}.")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def card(session: Session, thread: Thread) -> ThreadCard:
    starter = aliased(Member)
    last = aliased(Member)
    row = session.exec(
        select(SubForum.name, starter.display_name, last.display_name)
        .select_from(Thread)
        .join(SubForum, col(SubForum.id) == Thread.subforum_id)
        .join(starter, col(starter.id) == Thread.starter_member_id)
        .outerjoin(last, col(last.id) == Thread.last_reply_member_id)
        .where(Thread.id == thread.id)
    ).one()
    return ThreadCard(thread, row[0], row[1], row[2])


def listing(
    session: Session, subforum: SubForum, order: ThreadOrder, page: int, page_size: int
) -> tuple[list[ThreadCard], int]:
    """One page of a sub-forum's threads (pinned first) and the number of pages."""
    base = select(Thread).where(Thread.subforum_id == subforum.id, col(Thread.removed).is_(False))
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    pages = max(1, -(-total // page_size))
    starter = aliased(Member)
    last = aliased(Member)
    rows = session.exec(
        select(Thread, starter.display_name, last.display_name)
        .join(starter, col(starter.id) == Thread.starter_member_id)
        .outerjoin(last, col(last.id) == Thread.last_reply_member_id)
        .where(Thread.subforum_id == subforum.id, col(Thread.removed).is_(False))
        .order_by(col(Thread.pinned).desc(), *_ORDER[order])
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return [ThreadCard(t, subforum.name, s, lr) for t, s, lr in rows], pages


def opening_post(session: Session, thread: Thread) -> Post | None:
    return session.exec(select(Post).where(Post.thread_id == thread.id, col(Post.is_opening))).first()


def touch(thread: Thread, at: datetime) -> None:
    thread.last_activity_at = max(thread.last_activity_at, at)
