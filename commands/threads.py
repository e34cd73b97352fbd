"""Threads: start, browse and describe them; moderators lock, pin, rename and move them."""

from __future__ import annotations

from typing import Annotated, Literal

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import normalise
from chatbridge.model import OutgoingMessage, Privilege
from chatbridge.platform import PlatformError, ThreadTags
from chatbridge.registry import Param, command
from chatbridge.render.escape import escape_user_text, name_list
from chatbridge.services import directory, ingest, threads, trophies
from chatbridge.services.privacy_guard import privacy_refusal
from chatbridge.store.tables import Thread

TITLE_MAX = 100
BODY_MAX = 4000
TAGS_MAX = 200
MAX_TAGS = 5
"""Discord applies at most 5 tags to a forum post (developers/resources/channel.mdx, applied_tags)."""


@command("thread new", help="Start a thread in this sub-forum with a title and an opening post.")
async def thread_new(
    ctx: Context,
    title: Annotated[str, Param("The thread's title", max_length=TITLE_MAX)],
    body: Annotated[str, Param("The opening post", rest=True)],
    tags: Annotated[
        str | None,
        Param("Forum tags, separated by commas", autocomplete="tags", max_length=TAGS_MAX, typed=False),
    ] = None,
) -> OutgoingMessage:
    if ctx.subforum is None:
        raise CommandError("Start threads inside a sub-forum channel or room.")
    title = normalise(title, max_len=TITLE_MAX, field="title")
    body = normalise(body, max_len=BODY_MAX, field="opening post", multiline=True)
    guard = ctx.core.ingestor.rules.privacy
    if guard is not None and ctx.community.id is not None:
        # The bot would post the opening itself: it must never be the one to publish a patient's details.
        found = guard.policy(ctx.session, ctx.community.id).screen(f"{title}\n{body}")
        if found.flagged:
            raise CommandError(privacy_refusal(found))
    chosen = _chosen_tags(tags, ctx.platform.thread_tags(ctx.event.room))
    opening = ctx.core.renderer.render("threads/opening.md.j2", title=title, body=body, starter=ctx.member)
    room = ctx.event.room
    # Every check is done: the forum post is made outside the transaction, which then stores it.
    try:
        ref = ctx.from_platform(
            "create_thread",
            lambda: ctx.platform.create_thread(room, title, OutgoingMessage(opening), tags=chosen),
        )
    except PlatformError as error:  # the platform's own words: a missing permission, a required tag
        raise CommandError(str(error)) from error
    assert ctx.community.id is not None and ctx.subforum.id is not None and ctx.member.id is not None
    thread = Thread(
        community_id=ctx.community.id,
        subforum_id=ctx.subforum.id,
        platform=ctx.event.room.platform.value,
        platform_thread_id=ref.thread_id or ref.message_id,
        title=title,
        starter_member_id=ctx.member.id,
        created_at=ctx.now,
        last_activity_at=ctx.now,
        participant_count=1,
        tags=list(chosen),
    )
    ctx.session.add(thread)
    ctx.session.flush()
    ingest.add_post(
        ctx.session, thread, ctx.member, ctx.event.room, ref.message_id, body, ctx.now, opening=True
    )
    ctx.member.threads_started += 1
    ctx.notices.extend(
        trophies.check(
            ctx.session,
            ctx.member,
            ctx.core.ingestor.rules,
            ctx.event.room,
            thread.platform_thread_id,
            ctx.now,
        )
    )
    link = ctx.platform.permalink(ref)
    return ctx.reply("threads/created.md.j2", thread=thread, subforum=ctx.subforum, link=link)


def _chosen_tags(typed: str | None, offered: ThreadTags | None) -> tuple[str, ...]:
    """The tags named in `typed` (commas between them), as the room spells them.

    Where the room has no tags (a text channel; Matrix rooms never get the option) naming one is
    refused rather than dropped; where it requires one, none is refused with the list to choose from.
    """
    wanted = list(dict.fromkeys(" ".join(part.split()) for part in (typed or "").split(",")))
    wanted = [name for name in wanted if name]
    if offered is None:
        if wanted:
            raise CommandError("Threads here have no tags (only forum posts do): leave tags out.")
        return ()
    by_fold = {name.casefold(): name for name in offered.names}
    unknown = [name for name in wanted if name.casefold() not in by_fold]
    if unknown:
        raise CommandError(
            f"There is no tag {name_list(unknown)} here: choose from {name_list(offered.names)}."
        )
    chosen = tuple(dict.fromkeys(by_fold[name.casefold()] for name in wanted))
    if len(chosen) > MAX_TAGS:
        raise CommandError(f"A thread can carry at most {MAX_TAGS} tags.")
    if offered.required and not chosen:
        raise CommandError(f"Posts here need a tag: add tags with one of {name_list(offered.names)}.")
    return chosen


@command("thread list", help="List the threads of this sub-forum (or another), newest activity first.")
async def thread_list(
    ctx: Context,
    order: Annotated[Literal["latest", "replies", "likes"], Param("How to sort")] = "latest",
    page: Annotated[int, Param("Which page", min_value=1, max_value=10_000)] = 1,
    subforum: Annotated[str | None, Param("A sub-forum name", rest=True)] = None,
) -> OutgoingMessage:
    if subforum:
        where = directory.subforum_by_name(
            ctx.session, ctx.community, subforum, hidden=ctx.hidden_subforums()
        )
        ctx.may_show(where)  # found, so visible: a private one narrows the answer to the asker
    elif ctx.subforum is None:
        raise CommandError("Name a sub-forum, or use this inside one.")
    else:
        where = ctx.subforum
    size = ctx.core.settings.forum.page_size
    found = threads.listing(ctx.session, where, order, page, size, ctx.now)
    if not found.cards and page > 1:
        pages = max(1, -(-threads.count(ctx.session, where) // size))
        name = escape_user_text(where.name)
        raise CommandError(f"{name} has {pages} page{'s' if pages != 1 else ''} of threads.")
    return ctx.reply(
        "threads/list.md.j2",
        subforum=where,
        cards=found.cards,
        order=order,
        page=page,
        has_more=found.has_more,
    )


@command("thread show", help="Show a thread's card: who started it, replies, likes, last reply.")
async def thread_show(
    ctx: Context,
    thread: Annotated[
        str | None, Param("A thread number or title", autocomplete="threads", rest=True)
    ] = None,
) -> OutgoingMessage:
    found = ctx.thread_named(thread)
    return ctx.reply("threads/card.md.j2", card=threads.card(ctx.session, found, ctx.now))


async def _moderate(ctx: Context, thread: str | None, action: str) -> OutgoingMessage:
    found = ctx.thread_named(thread)
    attribute, value = {
        "lock": ("locked", True),
        "unlock": ("locked", False),
        "pin": ("pinned", True),
        "unpin": ("pinned", False),
    }[action]
    if getattr(found, attribute) == value:
        return ctx.say(f"Thread #{found.id} is already {action}ed.")
    setattr(found, attribute, value)
    ctx.log_action(f"thread_{action}", thread_id=found.id, title=found.title)
    return ctx.reply("threads/moderated.md.j2", thread=found, action=action)


_THREAD = Annotated[str | None, Param("A thread number or title", autocomplete="threads", rest=True)]


@command("thread lock", help="Lock a thread: replies stop counting.", privilege=Privilege.MODERATOR)
async def thread_lock(ctx: Context, thread: _THREAD = None) -> OutgoingMessage:
    return await _moderate(ctx, thread, "lock")


@command("thread unlock", help="Unlock a thread.", privilege=Privilege.MODERATOR)
async def thread_unlock(ctx: Context, thread: _THREAD = None) -> OutgoingMessage:
    return await _moderate(ctx, thread, "unlock")


@command("thread pin", help="Pin a thread to the top of its sub-forum.", privilege=Privilege.MODERATOR)
async def thread_pin(ctx: Context, thread: _THREAD = None) -> OutgoingMessage:
    return await _moderate(ctx, thread, "pin")


@command("thread unpin", help="Unpin a thread.", privilege=Privilege.MODERATOR)
async def thread_unpin(ctx: Context, thread: _THREAD = None) -> OutgoingMessage:
    return await _moderate(ctx, thread, "unpin")


@command(
    "thread rename", help="Rename a thread ('here' for the one you are in).", privilege=Privilege.MODERATOR
)
async def thread_rename(
    ctx: Context,
    thread: Annotated[str, Param("A thread number or title, or 'here'", autocomplete="threads")],
    title: Annotated[str, Param("The new title", rest=True, max_length=TITLE_MAX)],
) -> OutgoingMessage:
    found = ctx.thread_named(thread)
    old = found.title
    found.title = normalise(title, max_len=TITLE_MAX, field="title")
    ctx.log_action("thread_rename", thread_id=found.id, old=old, new=found.title)
    return ctx.reply("threads/moderated.md.j2", thread=found, action="rename", old=old)


@command("thread move", help="Move a thread to another sub-forum.", privilege=Privilege.MODERATOR)
async def thread_move(
    ctx: Context,
    thread: Annotated[str, Param("A thread number or title, or 'here'", autocomplete="threads")],
    subforum: Annotated[str, Param("The sub-forum to move it to", rest=True)],
) -> OutgoingMessage:
    found = ctx.thread_named(thread)
    target = directory.subforum_by_name(ctx.session, ctx.community, subforum, hidden=ctx.hidden_subforums())
    ctx.may_show(target)  # found, so visible: a private one narrows the answer to the asker
    if target.id == found.subforum_id:
        return ctx.say(f"Thread #{found.id} is already in {escape_user_text(target.name)}.")
    assert target.id is not None
    found.subforum_id = target.id
    ctx.log_action("thread_move", thread_id=found.id, to=target.name)
    return ctx.reply("threads/moderated.md.j2", thread=found, action="move", subforum=target)
