"""Evidence on posts: ask an author privately for a source; attach a cited note as a reply.

A request is private (the author learns that someone asked, never who) and counted once per
member; the count shows on the thread card until a note answers it. A note needs a citation that
leads somewhere (DOI, PubMed, trial registry, https) and comes from a verified clinician or from
the post's own author; moderators can remove notes like any post.
"""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.humanize import plural
from chatbridge.forum.text import normalise
from chatbridge.model import MessageRef, OutgoingMessage, PlatformName, Privilege
from chatbridge.registry import ContextMenu, Param, command
from chatbridge.services import evidence, ingest
from chatbridge.services.moderation import cases, queue
from chatbridge.services.moderation.notices import enqueue_dm
from chatbridge.store.tables import Member, Post, SubForum, Thread


def _target_post(ctx: Context) -> tuple[Post, Thread, SubForum]:
    """The post the command replies to, if it is a live post in a thread the answer may speak of."""
    target = ctx.target
    assert target is not None
    post = evidence.live_post(ingest.find_post(ctx.session, target.platform, target.message_id))
    thread = ctx.session.get(Thread, post.thread_id)
    subforum = ctx.session.get(SubForum, thread.subforum_id) if thread is not None else None
    if thread is None or subforum is None or thread.removed or not ctx.may_show(subforum):
        raise CommandError("That isn't a post in a forum thread, so there is nothing to attach this to.")
    return post, thread, subforum


@command(
    "source",
    help="Ask the author of the post you reply to, privately, for a source (counted once per member).",
    ephemeral=True,
    needs_target_message=True,
    context_menu=ContextMenu("Ask for a source", "message"),
    conceal=True,
)
async def source(ctx: Context) -> OutgoingMessage:
    post, thread, subforum = _target_post(ctx)
    if post.member_id == ctx.member.id:
        raise CommandError("That's your own post: add a source with `cite` as a reply to it.")
    assert post.id is not None
    if evidence.has_note(ctx.session, post.id):
        raise CommandError("That post already has a cited note; see it on the thread card (`thread show`).")
    new, count = evidence.request_source(ctx.session, post, ctx.member, ctx.now)
    if new and count == 1:
        _ask_author(ctx, post, thread, subforum, count, dedupe_key=f"source-request:{post.id}")
    if not new:
        return ctx.say(
            f"You have already asked; {plural(count, 'member is', 'members are')} waiting for a source."
        )
    return ctx.say(
        "I asked the author privately for a source (they aren't told who asked). "
        f"Members asking so far: {count}."
    )


def _ask_author(
    ctx: Context,
    post: Post,
    thread: Thread,
    subforum: SubForum,
    count: int,
    *,
    dedupe_key: str,
    by_moderators: bool = False,
) -> None:
    """Tell the author privately that a source was asked for (never by whom)."""
    author = ctx.session.get(Member, post.member_id)
    if author is None or author.is_bot:
        return
    ref = MessageRef(
        PlatformName(post.platform),
        subforum.platform_room_id,
        post.platform_message_id,
        thread.platform_thread_id,
    )
    link = ctx.platform.permalink(ref) if ref.platform == ctx.platform.name else None
    message = ctx.core.renderer.render(
        "evidence/source_requested.md.j2",
        thread=thread,
        link=link,
        count=count,
        by_moderators=by_moderators,
        prefix=ctx.core.registry.prefixes[0],
    )
    enqueue_dm(
        ctx.session,
        author,
        OutgoingMessage(message),
        dedupe_key=dedupe_key,
        now=ctx.now,
        prefer=ctx.platform.name,
    )


@command(
    "case source",
    help="Turn a reported post (a misinformation report, say) into a request for a source.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_source(
    ctx: Context, case: Annotated[str, Param("The case number, like #12 (or 'this' as a reply to its card)")]
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "turn cases into source requests")
    assert ctx.community.id is not None
    found = queue.find_case(
        ctx.session, ctx.community.id, case, ctx.target, prefix=ctx.core.registry.prefixes[0]
    )
    cases.check_may_act(found, ctx.member, ctx.privilege)
    post = ctx.session.get(Post, found.post_id) if found.post_id is not None else None
    if post is None:
        raise CommandError(f"Case #{found.id} is not about a post, so there is no source to ask for.")
    post = evidence.live_post(post)
    thread = ctx.session.get(Thread, post.thread_id)
    subforum = ctx.session.get(SubForum, thread.subforum_id) if thread is not None else None
    if thread is None or subforum is None:
        raise CommandError(f"Case #{found.id} is not about a post in a forum thread.")
    assert post.id is not None
    if evidence.has_note(ctx.session, post.id):
        raise CommandError("That post already has a cited note.")
    _, count = evidence.request_source(ctx.session, post, ctx.member, ctx.now)
    _ask_author(
        ctx,
        post,
        thread,
        subforum,
        count,
        dedupe_key=f"source-request:{post.id}:case:{found.id}",
        by_moderators=True,
    )
    ctx.log_action(
        "source_requested", ctx.session.get(Member, post.member_id), case_id=found.id, post_id=post.id
    )
    return ctx.say(
        f"Asked the author privately for a source (case #{found.id} stays open: resolve it when done). "
        f"Members asking so far: {count}."
    )


@command(
    "cite",
    help="As a reply: attach a note with a citation (DOI, PMID, NCT id or https link) to a post; "
    "verified clinicians, or the post's author.",
    needs_target_message=True,
)
async def cite(
    ctx: Context,
    text: Annotated[str, Param("The citation, then your note: 10.1056/NEJMoa2034577 Short note…", rest=True)],
) -> OutgoingMessage:
    post, _, _ = _target_post(ctx)
    if not evidence.may_cite(ctx.session, post, ctx.member, ctx.now):
        raise CommandError(
            "Only verified clinicians can add a note to someone else's post; "
            "ask for a source with `source` instead."
        )
    citation, rest = evidence.parse_citation(text)
    if not rest.strip():
        raise CommandError("Please add a short note after the citation: what it shows about this post.")
    body = normalise(rest, max_len=evidence.NOTE_MAX, field="note")
    note, edited = evidence.cite(
        ctx.session, post=post, author=ctx.member, citation=citation, body=body, now=ctx.now
    )
    assert note.id is not None and ctx.member.id is not None
    view = evidence.notes_for(ctx.session, [post.id or 0], ctx.now).get(post.id or 0, [])
    mine = next(v for v in view if v.id == note.id)
    return ctx.reply("evidence/cited.md.j2", n=mine, edited=edited)


@command(
    "uncite",
    help="As a reply: remove your note from a post (moderators: every note on it).",
    ephemeral=True,
    needs_target_message=True,
)
async def uncite(ctx: Context) -> OutgoingMessage:
    post, _, _ = _target_post(ctx)
    moderator = ctx.privilege >= Privilege.MODERATOR
    removed = evidence.remove_notes(ctx.session, post=post, by=ctx.member, everyone=moderator, now=ctx.now)
    if not removed:
        raise CommandError("There is no note of yours on that post to remove.")
    author = ctx.session.get(Member, post.member_id)
    for note in removed:
        if note.author_member_id != ctx.member.id:
            ctx.log_action("post_note_removed", author, note_id=note.id, post_id=post.id)
    return ctx.say(f"Removed {len(removed)} note{'s' if len(removed) != 1 else ''} from that post.")
