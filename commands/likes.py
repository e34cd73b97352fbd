"""Liking a post by command, for platforms or clients where a reaction is awkward."""

from __future__ import annotations

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.model import OutgoingMessage
from chatbridge.registry import ContextMenu, command
from chatbridge.services import ingest
from chatbridge.services.ingest import COMMAND_LIKE_SOURCE
from chatbridge.store.tables import Post, SubForum, Thread


def _target_post(ctx: Context) -> Post:
    assert ctx.target is not None
    post = ingest.find_post(ctx.session, ctx.event.room.platform, ctx.target.message_id)
    if post is None or post.deleted_at is not None or not post.counted or not _visible(ctx, post):
        raise CommandError("That message isn't a post in a forum thread, so it can't be liked.")
    if post.member_id == ctx.member.id:
        raise CommandError("You can't like your own post.")
    return post


def _visible(ctx: Context, post: Post) -> bool:
    """A reply can point at any message id; one in a private sub-forum the member cannot read is
    not there for them (liking it would confirm it exists)."""
    thread = ctx.session.get(Thread, post.thread_id)
    subforum = ctx.session.get(SubForum, thread.subforum_id) if thread is not None else None
    return subforum is not None and ctx.may_show(subforum)


@command(
    "like",
    help="Like the message you reply to.",
    ephemeral=True,
    needs_target_message=True,
    context_menu=ContextMenu("Like", target="message"),
)
async def like(ctx: Context) -> OutgoingMessage:
    _target_post(ctx)
    assert ctx.target is not None
    room = ctx.event.room
    before = ingest.has_liked(ctx.session, room.platform, ctx.target.message_id, ctx.member)
    # A trophy the like earns its author is announced like one earned by a reaction.
    ctx.notices.extend(
        ingest.add_like(
            ctx.session,
            room,
            ctx.event.actor,
            ctx.target.message_id,
            COMMAND_LIKE_SOURCE,
            ctx.now,
            ctx.core.ingestor.rules,
        )
    )
    return ctx.say("You already like that post." if before else "Liked. 👍")


@command(
    "unlike",
    help="Take back your like of the message you reply to.",
    ephemeral=True,
    needs_target_message=True,
)
async def unlike(ctx: Context) -> OutgoingMessage:
    _target_post(ctx)
    assert ctx.target is not None
    room = ctx.event.room
    removed = False
    for key in (COMMAND_LIKE_SOURCE, *sorted(ctx.core.ingestor.rules.like_keys)):
        removed = (
            ingest.remove_like(ctx.session, room, ctx.event.actor, ctx.target.message_id, key, ctx.now)
            or removed
        )
    return ctx.say("Like removed." if removed else "You hadn't liked that post.")
