"""Call-ins, not call-outs: a private word to a member about a post, through the bot.

`callin <member> [named|anonymous] <message…>`, or `callin post …` as a reply (Discord: "Call in
privately"), delivers the message by direct message. Anonymous hides the sender from the recipient
only: the sender is stored and both members' case logs record the call-in, so moderators see it
when either side is reported. The recipient may answer once (`callin answer`, relayed to the
sender) or report it (`callin report`, a report about the sender). Muted members cannot send one:
the mute gate refuses every command but help, appeal and one's own card. A call-in or answer typed
in a shared room is concealed (redacted on Matrix), else everyone there, the recipient too, reads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import normalise
from chatbridge.model import Actor, MessageRef, OutgoingMessage, PlatformName, Privilege
from chatbridge.platform import PlatformError
from chatbridge.registry import ContextMenu, MemberRef, Param, command
from chatbridge.render.escape import escape_user_text
from chatbridge.services import callins, directory, evidence, ingest
from chatbridge.services.moderation import reports
from chatbridge.services.moderation.notices import enqueue_dm
from chatbridge.services.moderation.policy import Policy
from chatbridge.store.tables import Member, Post, SubForum, Thread

Mode = Literal["named", "anonymous"]
_MESSAGE = Annotated[
    str,
    Param("What you'd like them to consider, kindly; start with 'anonymous' to hide your name", rest=True),
]
_ANONYMOUS = frozenset({"anonymous", "anonymously", "anon"})


def _split_mode(message: str) -> tuple[Mode, str]:
    """A message starting with "anonymous" is sent without the sender's name."""
    words = message.strip().split(maxsplit=1)
    if words and words[0].casefold().rstrip(":,") in _ANONYMOUS:
        return "anonymous", words[1] if len(words) > 1 else ""
    return "named", message


_NUMBER = Annotated[str, Param("The call-in's number, like #3, from the message you received")]


async def _deliver(
    ctx: Context, recipient: Member, message: str, post: Post | None, about: str | None
) -> OutgoingMessage:
    mode, message = _split_mode(message)
    if not message.strip():
        raise CommandError("Please add the message: what you'd like them to consider.")
    body = normalise(message, max_len=callins.BODY_MAX, field="call-in", multiline=True)
    anonymous = mode == "anonymous"
    sent = callins.send(
        ctx.session,
        sender=ctx.member,
        recipient=recipient,
        post=post,
        body=body,
        anonymous=anonymous,
        now=ctx.now,
    )
    text = ctx.core.renderer.render(
        "callins/delivered.md.j2",
        callin=sent,
        sender=None if anonymous else ctx.member,
        about=about,
        prefix=ctx.core.registry.prefixes[0],
    )
    if (
        enqueue_dm(
            ctx.session,
            recipient,
            OutgoingMessage(text),
            dedupe_key=f"callin:{sent.id}",
            now=ctx.now,
            prefer=ctx.platform.name,
        )
        is None
    ):
        raise CommandError(f"I have no way to write to {escape_user_text(recipient.display_name)} privately.")
    ctx.log_action(
        "callin_received", recipient, callin_id=sent.id, anonymous=anonymous, text=body, post_id=sent.post_id
    )
    ctx.log_action("callin_sent", ctx.member, callin_id=sent.id, recipient=recipient.display_name)
    how = "anonymously (only the moderators can see it was you)" if anonymous else "with your name"
    return ctx.say(
        f"Sent privately to {escape_user_text(recipient.display_name)}, {how}. "
        "They can answer once through me, or report it. Thank you for calling in rather than out."
    )


@command(
    "callin",
    help="Send a member a private, constructive note through the bot.",
    ephemeral=True,
    conceal=True,
)
async def callin(
    ctx: Context,
    member: Annotated[MemberRef, Param("Who it is for")],
    message: _MESSAGE,
) -> OutgoingMessage:
    return await _deliver(ctx, ctx.member_named(member), message, None, None)


@command(
    "callin post",
    help="As a reply: send the post's author a private, constructive note about it.",
    ephemeral=True,
    needs_target_message=True,
    context_menu=ContextMenu("Call in privately", "message"),
    conceal=True,
)
async def callin_post(ctx: Context, message: _MESSAGE) -> OutgoingMessage:
    target = ctx.target
    assert target is not None
    post = evidence.live_post(ingest.find_post(ctx.session, target.platform, target.message_id))
    thread = ctx.session.get(Thread, post.thread_id)
    subforum = ctx.session.get(SubForum, thread.subforum_id) if thread is not None else None
    if thread is None or subforum is None or thread.removed or not ctx.may_show(subforum):
        raise CommandError("That isn't a post in a forum thread; use `callin <member> <message>` instead.")
    recipient = ctx.session.get(Member, post.member_id)
    assert recipient is not None
    ref = MessageRef(
        ctx.event.room.platform,
        subforum.platform_room_id,
        post.platform_message_id,
        thread.platform_thread_id,
    )
    about = ctx.core.renderer.render("callins/about.md.j2", thread=thread, link=ctx.platform.permalink(ref))
    return await _deliver(ctx, recipient, message, post, about)


@command(
    "callin answer",
    help="Answer a call-in you received, once; I pass it on.",
    ephemeral=True,
    conceal=True,
)
async def callin_answer(
    ctx: Context, number: _NUMBER, text: Annotated[str, Param("Your answer", rest=True)]
) -> OutgoingMessage:
    found = callins.received(ctx.session, ctx.member, number)
    body = normalise(text, max_len=callins.BODY_MAX, field="answer", multiline=True)
    callins.answer(ctx.session, found, body, ctx.now)
    sender = ctx.session.get(Member, found.sender_member_id)
    if sender is not None:
        relay = ctx.core.renderer.render(
            "callins/answered.md.j2", callin=found, recipient=ctx.member, text=body
        )
        enqueue_dm(
            ctx.session, sender, OutgoingMessage(relay), dedupe_key=f"callin-answer:{found.id}", now=ctx.now
        )
    ctx.log_action("callin_answered", ctx.member, callin_id=found.id)
    return ctx.say(
        f"Passed on your answer to call-in #{found.id}. That closes it; there is no further relay."
    )


@command(
    "callin report",
    help="Report a call-in you received; the moderators see who sent it.",
    ephemeral=True,
    conceal=True,
)
async def callin_report(
    ctx: Context,
    number: _NUMBER,
    reason: Annotated[str | None, Param("What the moderators should know", rest=True)] = None,
) -> OutgoingMessage:
    found = callins.received(ctx.session, ctx.member, number)
    sender = ctx.session.get(Member, found.sender_member_id)
    if sender is None:
        raise CommandError("The sender of that call-in is no longer a member.")
    text = (
        normalise(reason, max_len=callins.BODY_MAX, field="reason", multiline=True)
        if reason and reason.strip()
        else ""
    )
    identity = directory.identity_of(ctx.session, sender, ctx.event.room.platform)
    assert ctx.community.id is not None
    filed = reports.report_member(
        ctx.session,
        Policy.of(ctx.core),
        community_id=ctx.community.id,
        reporter=ctx.member,
        subject=sender,
        platform=ctx.event.room.platform,
        subject_user_id=identity.platform_user_id if identity else None,
        subject_level=_level(ctx, sender),
        category="harassment",
        reason=f"About call-in #{found.id}. {text}".strip(),
        event_id=ctx.event.event_id,
        now=ctx.now,
    )
    found.reported_at = ctx.now
    return ctx.say(Policy.of(ctx.core).render("report_received", filed=filed))


def _level(ctx: Context, member: Member) -> Privilege:
    """The sender's privilege (a report about a moderator goes to the admins); ADMIN when the
    platform can't say, so it never lands in front of the moderator it is about."""
    identity = directory.identity_of(ctx.session, member, ctx.platform.name)
    if identity is None:
        return Privilege.MEMBER
    community_id, user_id = ctx.event.room.community_id, identity.platform_user_id
    try:  # asked outside the store transaction (see `Context.from_platform`)
        level = ctx.from_platform(
            f"member_privilege:{user_id}", lambda: ctx.platform.member_privilege(community_id, user_id)
        )
    except PlatformError:
        return Privilege.ADMIN
    actor = Actor(
        PlatformName(identity.platform), identity.platform_user_id, member.display_name, privilege=level
    )
    return ctx.core.privilege_of(actor)
