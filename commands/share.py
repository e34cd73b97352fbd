"""Share links that carry their context (title, sub-forum, starter, date, a short quote).

A screenshot loses who said what, where and when; a share keeps it, and refuses posts that were
removed or hidden so a share can't resurface them. A share of something in a private sub-forum is
posted only where its readers alone see it (its own room, or privately to a reader).
"""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import excerpt
from chatbridge.model import MessageRef, OutgoingMessage
from chatbridge.registry import ContextMenu, Param, command
from chatbridge.services import credentials, evidence, ingest, threads
from chatbridge.store.tables import Member, SubForum, Thread

QUOTE_CHARS = 140


@command(
    "share",
    help="A link to a thread (or, as a reply, to a message) with its context.",
    context_menu=ContextMenu("Share", target="message"),
)
async def share(
    ctx: Context,
    thread: Annotated[
        str | None, Param("A thread number or title", autocomplete="threads", rest=True)
    ] = None,
) -> OutgoingMessage:
    room = ctx.event.room
    if ctx.target is not None and thread is None:
        post = ingest.find_post(ctx.session, room.platform, ctx.target.message_id)
        if post is None:
            raise CommandError("I can only share posts in forum threads.")
        found = ctx.session.get(Thread, post.thread_id)
        assert found is not None
    else:
        found = ctx.thread_named(thread)
        post = threads.opening_post(ctx.session, found)
        if post is None:
            raise CommandError("That thread has no opening post to share.")
    subforum = ctx.session.get(SubForum, found.subforum_id)
    assert subforum is not None
    if not ctx.may_show(subforum):
        raise CommandError("I can only share posts in forum threads.")
    if found.removed or post.deleted_at is not None or post.hidden:
        raise CommandError("That post was removed or hidden, so it can't be shared.")
    author = ctx.session.get(Member, post.member_id)
    assert author is not None
    ref = MessageRef(
        room.platform, subforum.platform_room_id, post.platform_message_id, found.platform_thread_id
    )
    card = threads.card(ctx.session, found, ctx.now)
    return ctx.reply(
        "threads/share.md.j2",
        card=card,
        author=author,
        author_badge=credentials.active_title(ctx.session, author.id, ctx.now) if author.id else None,
        post=post,
        quote=excerpt(post.body, QUOTE_CHARS),
        notes=evidence.notes_for(ctx.session, [post.id], ctx.now).get(post.id, []) if post.id else [],
        source_requests=evidence.open_requests(ctx.session, [post.id]).get(post.id, 0) if post.id else 0,
        link=ctx.platform.permalink(ref),
    )
