"""Moderators' actions on a pile-on case: slow the thread, lock it, mute the participants, or say
it was not a pile-on. The case card's buttons run these same commands (Discord); on Matrix they are
typed. Every answer is ephemeral, and nothing is said in the thread itself.
"""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError, NotFound
from chatbridge.forum.durations import parse_duration
from chatbridge.forum.text import normalise, whole_number
from chatbridge.model import Actor, OutgoingMessage, PlatformName, Privilege
from chatbridge.platform import PlatformError
from chatbridge.registry import Param, command
from chatbridge.render.escape import escape_user_text
from chatbridge.services import directory
from chatbridge.services.moderation import cases, queue
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.pileon import actions
from chatbridge.store.tables import Member, ModCase

_CASE = Annotated[str, Param("The case number, like #12 (or 'this' as a reply to its card)")]
MAX_SLOW_SECONDS = 21600


def _policy(ctx: Context) -> Policy:
    return Policy.of(ctx.core)


def _pileon_case(ctx: Context, text: str) -> ModCase:
    assert ctx.community.id is not None
    found = queue.find_case(
        ctx.session, ctx.community.id, text, ctx.target, prefix=ctx.core.registry.prefixes[0]
    )
    cases.check_may_act(found, ctx.member, ctx.privilege)
    cases.check_open(found, ctx.core.registry.prefixes[0])
    actions.check_pileon(found)
    return found


@command(
    "case slow",
    help="Slow a pile-on's thread: each member may post once per so many seconds.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_slow(
    ctx: Context,
    case: _CASE,
    seconds: Annotated[
        str | None, Param("Seconds between two posts of one member (default: the config's)")
    ] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "slow threads")
    found = _pileon_case(ctx, case)
    pace = ctx.core.settings.pileon.slowmode_seconds
    if seconds is not None:
        given = whole_number(seconds)
        if given is None or not 1 <= given <= MAX_SLOW_SECONDS:
            raise CommandError(f"Give the pace as whole seconds from 1 to {MAX_SLOW_SECONDS}, like 60.")
        pace = given
    actions.slow(ctx.session, _policy(ctx), found, ctx.member, pace, ctx.now)
    return ctx.say(
        f"The thread of case #{found.id} is being slowed to one post per {pace} s per member. "
        "If the platform refuses, the card will say so."
    )


@command(
    "case lock",
    help="Lock a pile-on's thread: replies stop counting and members are told it is locked.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_lock(ctx: Context, case: _CASE) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "lock threads")
    found = _pileon_case(ctx, case)
    title = actions.lock(ctx.session, _policy(ctx), found, ctx.member, ctx.now)
    return ctx.say(f"The thread “{escape_user_text(title)}” of case #{found.id} is locked.")


async def _may_mute(ctx: Context, member: Member) -> bool:
    """Moderators and admins among the participants are left for an admin to handle."""
    platform = ctx.event.room.platform
    identity = directory.identity_of(ctx.session, member, platform) or directory.identity_of(
        ctx.session, member
    )
    if identity is None:
        return True
    level = Privilege.MEMBER
    if identity.platform == ctx.platform.name.value:
        try:
            level = await ctx.platform.member_privilege(
                ctx.event.room.community_id, identity.platform_user_id
            )
        except PlatformError:
            return False
    actor = Actor(
        PlatformName(identity.platform), identity.platform_user_id, member.display_name, privilege=level
    )
    return ctx.core.privilege_of(actor) < Privilege.MODERATOR and member.id != ctx.member.id


@command(
    "case mute-all",
    help="Mute every participant of a pile-on case, for a while.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_mute_all(
    ctx: Context,
    case: _CASE,
    duration: Annotated[str, Param("How long: 10m, 2h, 3d, 1w")],
    reason: Annotated[str | None, Param("Why, as each of them will read it", rest=True)] = None,
) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "mute members")
    found = _pileon_case(ctx, case)
    span = parse_duration(duration)
    text = (
        normalise(reason, max_len=1000, field="reason", multiline=True)
        if reason and reason.strip()
        else "taking part in a pile-on on another member"
    )
    everyone = actions.participants(ctx.session, found)
    if not everyone:
        raise NotFound(f"Case #{found.id} lists no participants I still know.")
    members = [m for m in everyone if await _may_mute(ctx, m)]
    skipped = [m for m in everyone if m not in members]
    actions.mute_all(ctx.session, _policy(ctx), found, ctx.member, members, span, text, ctx.now)
    names = ", ".join(f"**{escape_user_text(m.display_name)}**" for m in members) or "nobody"
    answer = f"Muted for {_policy(ctx).span(span)} (case #{found.id}): {names}."
    if skipped:
        left = ", ".join(escape_user_text(m.display_name) for m in skipped)
        answer += f" Left for an admin (moderators, or you): {left}."
    return ctx.say(answer)


@command(
    "case not-pileon",
    help="Dismiss a pile-on case as not a pile-on; repeated dismissals make alerts rarer here.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def case_not_pileon(ctx: Context, case: _CASE) -> OutgoingMessage:
    ctx.require(Privilege.MODERATOR, "dismiss cases")
    found = _pileon_case(ctx, case)
    actions.not_a_pileon(ctx.session, _policy(ctx), found, ctx.member, ctx.now)
    return ctx.say(
        f"Case #{found.id} is dismissed as not a pile-on. I'll count it when deciding how many members "
        "it takes to alert here."
    )
