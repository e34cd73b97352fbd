"""Moderation commands: members report and appeal; moderators work the queue, mute, warn and note.

Handlers only orchestrate: they check privilege again (a platform's per-channel command permissions
can let a member invoke a moderator command, so dispatch's check is not the only one), ask the
platform for the target's role, and call `chatbridge.services.moderation`. Every answer to a
moderator is ephemeral, and nothing here posts in public: the case card goes to the queue room and
notices go by direct message, both through the outbox.
"""

from __future__ import annotations

from typing import Annotated, Literal

from chatbridge.context import Context
from chatbridge.errors import CommandError, NotFound
from chatbridge.forum.durations import parse_duration
from chatbridge.forum.text import normalise, quote_input, whole_number
from chatbridge.model import Actor, MessageRef, OutgoingMessage, PlatformName, Privilege
from chatbridge.platform import PlatformError
from chatbridge.registry import ContextMenu, MemberRef, Param, command
from chatbridge.render.escape import escape_user_text
from chatbridge.services import directory, ingest
from chatbridge.services.moderation import cases, log, queue, reports, sanctions
from chatbridge.services.moderation.notices import queue_room
from chatbridge.services.moderation.policy import Policy
from chatbridge.store.tables import Member, ModCase

Category = Literal["harassment", "misinformation", "patient_privacy", "spam", "other"]
REASON_MAX = 1000
NOTE_MAX = 2000
MAX_POINTS = 100

_CATEGORY = Annotated[
    Category, Param("What is wrong: harassment, misinformation, patient_privacy, spam or other")
]
_CASE = Annotated[str, Param("The case number, like #12 (or 'this' as a reply to its card)")]
_MEMBER = Annotated[MemberRef, Param("A member: mention, name or platform user id")]
_DURATION = Annotated[str, Param("How long: 10m, 2h, 3d, 1w")]
_POINTS = Annotated[str | None, Param("Warning points, a whole number (the community's default if left out)")]


def _policy(ctx: Context) -> Policy:
    return Policy.of(ctx.core)


def _answer(ctx: Context, template: str, /, **values: object) -> OutgoingMessage:
    return ctx.say(_policy(ctx).render(template, **values))


def _community_id(ctx: Context) -> int:
    assert ctx.community.id is not None
    return ctx.community.id


def _name(member: Member) -> str:
    return escape_user_text(member.display_name)


def _level_of(ctx: Context, member: Member) -> Privilege:
    """The member's privilege now: the platform's (roles, power levels) raised by the config lists.
    Asked of the platform outside the store transaction (see `Context.from_platform`)."""
    platform = ctx.event.room.platform
    identity = directory.identity_of(ctx.session, member, platform) or directory.identity_of(
        ctx.session, member
    )
    if identity is None:
        return Privilege.MEMBER
    level = Privilege.MEMBER
    if identity.platform == ctx.platform.name.value:
        try:
            community_id, user_id = ctx.event.room.community_id, identity.platform_user_id
            level = ctx.from_platform(
                f"member_privilege:{user_id}", lambda: ctx.platform.member_privilege(community_id, user_id)
            )
        except PlatformError as error:
            raise CommandError(
                f"I couldn't check {_name(member)}'s role on the platform ({escape_user_text(str(error))}), "
                "so I did nothing."
            ) from None
    actor = Actor(
        PlatformName(identity.platform), identity.platform_user_id, member.display_name, privilege=level
    )
    return ctx.core.privilege_of(actor)


def _reason(text: str | None, field: str = "reason", *, required: bool = False) -> str:
    if text is None or not text.strip():
        if required:
            raise CommandError(f"Please give a {field}: the member will read it.")
        return ""
    return normalise(text, max_len=REASON_MAX, field=field, multiline=True)


# -- members: reports and appeals --------------------------------------------------------------------


@command(
    "report",
    help="Report the message you reply to; only the moderators see who reported it.",
    ephemeral=True,
    needs_target_message=True,
    context_menu=ContextMenu("Report message", "message"),
    conceal=True,
)
async def report(
    ctx: Context,
    category: _CATEGORY,
    reason: Annotated[str | None, Param("What the moderators should know", rest=True)] = None,
) -> OutgoingMessage:
    target = ctx.target
    assert target is not None
    text = _reason(reason)
    post = ingest.find_post(ctx.session, target.platform, target.message_id)
    subject: Member | None = None
    subject_user_id: str | None = None
    if post is not None:
        subject = ctx.session.get(Member, post.member_id)
        identity = directory.identity_of(ctx.session, subject, target.platform) if subject else None
        subject_user_id = identity.platform_user_id if identity else None
    elif ctx.event.target_user is not None:
        subject = directory.resolve_member(ctx.session, ctx.community, ctx.event.target_user, ctx.now)
        subject_user_id = ctx.event.target_user.user_id
    level = _report_level(ctx, subject)
    filed = reports.report_message(
        ctx.session,
        _policy(ctx),
        community_id=_community_id(ctx),
        reporter=ctx.member,
        target=_with_community(target, ctx),
        post=post,
        subject=subject,
        subject_user_id=subject_user_id,
        subject_level=level,
        category=category,
        reason=text,
        event_id=ctx.event.event_id,
        now=ctx.now,
    )
    return _answer(ctx, "report_received", filed=filed)


def _with_community(target: MessageRef, ctx: Context) -> MessageRef:
    if target.community_id is not None:
        return target
    return MessageRef(
        target.platform, target.room_id, target.message_id, target.thread_id, ctx.event.room.community_id
    )


def _report_level(ctx: Context, subject: Member | None) -> Privilege:
    """A report must be filed even when the platform can't say who the subject is: then it goes to
    the admins, so a report about a moderator never lands in front of that moderator."""
    if subject is None:
        return Privilege.MEMBER
    try:
        return _level_of(ctx, subject)
    except CommandError:
        return Privilege.ADMIN


@command(
    "report member",
    help="Report a member's conduct as a whole; only the moderators see who reported it.",
    ephemeral=True,
    context_menu=ContextMenu("Report member", "user"),
    conceal=True,
)
async def report_member(
    ctx: Context,
    member: _MEMBER,
    category: _CATEGORY,
    reason: Annotated[str, Param("What happened, for the moderators", rest=True)],
) -> OutgoingMessage:
    subject = _named_or_target(ctx, member)
    text = _reason(reason, required=True)
    identity = directory.identity_of(ctx.session, subject, ctx.event.room.platform)
    filed = reports.report_member(
        ctx.session,
        _policy(ctx),
        community_id=_community_id(ctx),
        reporter=ctx.member,
        subject=subject,
        platform=ctx.event.room.platform,
        subject_user_id=identity.platform_user_id if identity else None,
        subject_level=_report_level(ctx, subject) if subject.id != ctx.member.id else Privilege.MEMBER,
        category=category,
        reason=text,
        event_id=ctx.event.event_id,
        now=ctx.now,
    )
    return _answer(ctx, "report_received", filed=filed)


def _named_or_target(ctx: Context, member: str) -> Member:
    """The member named, or the one a right-click or a user picker pointed at even if the forum
    hasn't heard from them yet (someone who only wrote outside the forum's threads counts too)."""
    try:
        return ctx.member_named(member)
    except NotFound:
        target = ctx.event.target_user
        if target is None or target.user_id not in member:
            raise
        return directory.resolve_member(ctx.session, ctx.community, target, ctx.now)


@command(
    "appeal",
    help="Appeal your current mute or warning, once; the moderators see it on the case.",
    ephemeral=True,
    allowed_while_muted=True,
)
async def appeal(
    ctx: Context,
    text: Annotated[str, Param("Why the moderators should reconsider", rest=True)],
) -> OutgoingMessage:
    body = normalise(text, max_len=NOTE_MAX, field="appeal", multiline=True)
    sanction, case = sanctions.appeal(
        ctx.session, _policy(ctx), member=ctx.member, text=body, now=ctx.now, platform=ctx.event.room.platform
    )
    return _answer(ctx, "appeal_received", sanction=sanction, case=case)


# -- moderators: the queue and its cases ----------------------------------------------------------


@command("queue", help="List the open moderation cases.", privilege=Privilege.MODERATOR, ephemeral=True)
async def queue_(ctx: Context) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "see the moderation queue")
    found = queue.open_cases(
        ctx.session, _community_id(ctx), include_escalated=ctx.privilege >= Privilege.ADMIN
    )
    mine = [c for c in found if c.subject_member_id is None or c.subject_member_id != ctx.member.id]

    def link(ref: MessageRef) -> str | None:
        return ctx.platform.permalink(ref) if ref.platform == ctx.platform.name else None

    return _answer(ctx, "queue", summaries=queue.summaries(ctx.session, mine, link))


def _case(ctx: Context, text: str) -> ModCase:
    found = queue.find_case(
        ctx.session, _community_id(ctx), text, ctx.target, prefix=ctx.core.registry.prefixes[0]
    )
    cases.check_may_act(found, ctx.member, ctx.privilege)
    return found


def _open_case(ctx: Context, text: str) -> ModCase:
    found = _case(ctx, text)
    cases.check_open(found, ctx.core.registry.prefixes[0])
    return found


@command(
    "case claim",
    help="Take a case, so others know you're on it.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_claim(ctx: Context, case: _CASE) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "claim cases")
    found = _open_case(ctx, case)
    previous = cases.claim(ctx.session, _policy(ctx), found, ctx.member, ctx.now)
    return _answer(ctx, "case_updated", action="claim", case=found, previous=previous)


@command(
    "case resolve",
    help="Close a case with what was done; the reporters (or the appellant) are told privately.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_resolve(
    ctx: Context,
    case: _CASE,
    outcome: Annotated[
        str, Param("What was done, as the reporters (for an appeal: the member) will read it", rest=True)
    ],
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "resolve cases")
    found = _open_case(ctx, case)
    text = _reason(outcome, "outcome", required=True)
    told = cases.close(
        ctx.session, _policy(ctx), found, ctx.member, status="resolved", outcome=text, now=ctx.now
    )
    reveal = ctx.core.settings.moderation.reveal_moderator_names
    return _answer(ctx, "case_updated", action="resolved", case=found, told=told, reveal=reveal)


@command(
    "case dismiss",
    help="Close a case without action; the reporters are told privately, the note stays in the log.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_dismiss(
    ctx: Context,
    case: _CASE,
    note: Annotated[str | None, Param("Why, for the case log (reporters don't see it)", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "dismiss cases")
    found = _open_case(ctx, case)
    text = _reason(note, "note")
    told = cases.close(
        ctx.session, _policy(ctx), found, ctx.member, status="dismissed", outcome=text, now=ctx.now
    )
    reveal = ctx.core.settings.moderation.reveal_moderator_names
    return _answer(ctx, "case_updated", action="dismissed", case=found, told=told, reveal=reveal)


def _case_reason(found: ModCase) -> str:
    """The reason a member reads when the moderator gave none: what the case was about."""
    return f"{found.category.replace('_', ' ')}, after a report a moderator reviewed"


def _case_subject(ctx: Context, found: ModCase) -> Member:
    if found.category == "pile_on":  # its subject is the member piled on, never to be sanctioned for it
        raise CommandError(
            f"Case #{found.id} is a pile-on: its member is the one piled on. Use `case mute-all` for "
            "the participants, or `case slow` / `case lock` for the thread."
        )
    subject = ctx.session.get(Member, found.subject_member_id) if found.subject_member_id else None
    if subject is None:
        raise CommandError(
            f"Case #{found.id} has no known member (the message isn't one the forum stores). "
            "Open the message, then act on its author by name."
        )
    return subject


@command(
    "case mute",
    help="Mute the member a case is about, for a while.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_mute(
    ctx: Context,
    case: _CASE,
    duration: _DURATION,
    reason: Annotated[str | None, Param("Why, as the member will read it", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "mute members")
    found = _open_case(ctx, case)
    subject = _case_subject(ctx, found)
    text = _reason(reason) or _case_reason(found)
    return await _mute(ctx, subject, duration, text, found)


@command(
    "case warn",
    help="Warn the member a case is about; points add up to automatic mutes.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_warn(
    ctx: Context,
    case: _CASE,
    points: _POINTS = None,
    reason: Annotated[str | None, Param("Why, as the member will read it", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "warn members")
    found = _open_case(ctx, case)
    subject = _case_subject(ctx, found)
    count, text = _points_and_reason(ctx, points, reason)
    return await _warn(ctx, subject, count, text or _case_reason(found), found)


@command(
    "case delete",
    help="Delete the reported message; it leaves every count at once.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_delete(ctx: Context, case: _CASE) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "delete messages")
    found = _open_case(ctx, case)
    cases.delete_message(ctx.session, _policy(ctx), found, ctx.member, ctx.now)
    return _answer(ctx, "case_updated", action="delete", case=found)


# -- moderators: mutes, warnings, the case log ----------------------------------------------------


async def _mute(
    ctx: Context, subject: Member, duration: str, reason: str, case: ModCase | None
) -> OutgoingMessage:
    span = parse_duration(duration)
    sanctions.check_authority(ctx.member, ctx.privilege, subject, _level_of(ctx, subject), "mute")
    policy = _policy(ctx)
    outcome = sanctions.mute(
        ctx.session,
        policy,
        subject=subject,
        moderator=ctx.member,
        duration=span,
        reason=reason,
        now=ctx.now,
        case=case,
        prefer=ctx.event.room.platform,
    )
    if case is not None:
        cases.claim_quietly(case, ctx.member)
    return _answer(
        ctx,
        "muted",
        member=subject,
        until=policy.when(ctx.now + span),
        duration=policy.span(span),
        reason=reason,
        case=case,
        changed=outcome.entry is not None and outcome.entry.action == "mute_changed",
        notice=policy.config.mute_notice,
        queue_room=_has_queue_room(ctx, case),
    )


def _has_queue_room(ctx: Context, case: ModCase | None) -> bool:
    escalated = bool(case and case.escalated_to_admins)
    room = queue_room(
        ctx.session, _policy(ctx), _community_id(ctx), ctx.event.room.platform, escalated=escalated
    )
    return room is not None


@command(
    "mute",
    help="Mute a member for a while (10m, 2h, 3d, 1w); they're told why and until when.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def mute(
    ctx: Context,
    member: _MEMBER,
    duration: _DURATION,
    reason: Annotated[str, Param("Why, as the member will read it", rest=True)],
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "mute members")
    subject = _named_or_target(ctx, member)
    return await _mute(ctx, subject, duration, _reason(reason, required=True), None)


@command("unmute", help="Lift a member's mute now.", privilege=Privilege.MODERATOR, ephemeral=True)
async def unmute(
    ctx: Context,
    member: _MEMBER,
    reason: Annotated[str | None, Param("Why, for the case log", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "unmute members")
    subject = ctx.member_named(member)
    sanctions.check_authority(ctx.member, ctx.privilege, subject, _level_of(ctx, subject), "unmute")
    current = sanctions.active_mute(ctx.session, subject, ctx.now)
    if current is None:
        raise CommandError(f"{_name(subject)} isn't muted.")
    sanctions.lift(
        ctx.session,
        _policy(ctx),
        sanction=current,
        by=ctx.member,
        reason=_reason(reason),
        now=ctx.now,
        prefer=ctx.event.room.platform,
    )
    return _answer(ctx, "unmuted", member=subject)


def _points_and_reason(ctx: Context, points: str | None, reason: str | None) -> tuple[int, str]:
    """`warn bob 2 spam` gives 2 points; `warn bob spam links` gives the default and the whole
    reason (the first word of the reason arrives in the points position when typed as text)."""
    default = ctx.core.settings.moderation.warning_points
    if points is None:
        return default, _reason(reason)
    count = whole_number(points)
    if count is not None:
        if not 1 <= count <= MAX_POINTS:
            raise CommandError(f"Warning points go from 1 to {MAX_POINTS}.")
        return count, _reason(reason)
    return default, _reason(f"{points} {reason}" if reason else points)


async def _warn(
    ctx: Context, subject: Member, points: int, reason: str, case: ModCase | None
) -> OutgoingMessage:
    sanctions.check_authority(ctx.member, ctx.privilege, subject, _level_of(ctx, subject), "warn")
    policy = _policy(ctx)
    outcome = sanctions.warn(
        ctx.session,
        policy,
        subject=subject,
        moderator=ctx.member,
        points=points,
        reason=reason,
        now=ctx.now,
        case=case,
        prefer=ctx.event.room.platform,
    )
    if case is not None:
        cases.claim_quietly(case, ctx.member)
    mute_until = None
    if outcome.mute is not None and outcome.mute.sanction.ends_at is not None:
        mute_until = policy.when(outcome.mute.sanction.ends_at)
    assert outcome.sanction.expires_at is not None
    return _answer(
        ctx,
        "warned",
        member=subject,
        outcome=outcome,
        case=case,
        expires=policy.when(outcome.sanction.expires_at),
        threshold_mute=policy.span(outcome.threshold.mute) if outcome.threshold else None,
        mute_until=mute_until,
        next_mute=policy.span(outcome.next_threshold.mute) if outcome.next_threshold else None,
    )


@command(
    "warn",
    help="Warn a member with points that expire; enough active points mute them automatically.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def warn(
    ctx: Context,
    member: _MEMBER,
    points: _POINTS = None,
    reason: Annotated[str | None, Param("Why, as the member will read it", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "warn members")
    subject = _named_or_target(ctx, member)
    count, text = _points_and_reason(ctx, points, reason)
    if not text:
        raise CommandError("Please give a reason: the member will read it.")
    return await _warn(ctx, subject, count, text, None)


@command(
    "modlog",
    help="A member's case log: every moderation action and note (also by platform user id).",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def modlog(ctx: Context, member: _MEMBER) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "read the case log")
    community_id = _community_id(ctx)
    try:
        subject: Member | None = ctx.member_named(member)
    except NotFound:
        subject = None
    if subject is not None:
        entries = log.member_history(ctx.session, community_id, member=subject)
        notes = log.notes_of(ctx.session, subject)
        name = subject.display_name
        muted = sanctions.active_mute(ctx.session, subject, ctx.now)
        points = sanctions.active_points(ctx.session, subject, ctx.now)
    else:
        entries = log.member_history(ctx.session, community_id, platform_user_id=member.strip())
        if not entries:
            raise NotFound(f"I have nothing recorded for {quote_input(member)}.")
        notes, name, muted, points = [], member.strip(), None, 0
    entries = log.visible_history(
        ctx.session,
        entries,
        viewer=ctx.member,
        viewer_is_admin=ctx.privilege >= Privilege.ADMIN,
        subject=subject,
    )
    if subject is not None and subject.id == ctx.member.id:
        notes = []  # the notes moderators keep about a member are not for that member
    names = log.names(ctx.session, [e.actor_member_id for e in entries] + [n.author_member_id for n in notes])
    return _answer(
        ctx, "modlog", name=name, entries=entries, notes=notes, names=names, mute=muted, points=points
    )


@command(
    "note",
    help="Add a private moderator note to a member's case log.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def note(
    ctx: Context,
    member: _MEMBER,
    text: Annotated[str, Param("The note (moderators only)", rest=True)],
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "add notes")
    subject = _named_or_target(ctx, member)
    body = normalise(text, max_len=NOTE_MAX, field="note", multiline=True)
    log.add_note(
        ctx.session,
        community_id=_community_id(ctx),
        subject=subject,
        author=ctx.member,
        body=body,
        now=ctx.now,
    )
    return _answer(ctx, "note_added", member=subject)
