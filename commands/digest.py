"""Weekly digests, for moderators: one schedule per channel, a preview, a post now, on and off.

The posting itself belongs to the scheduler (`chatbridge.services.digest.runner`); `digest now`
goes through the same claim and outbox, so a digest a moderator asks for is posted once too.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Annotated

from sqlmodel import col, select

from chatbridge.context import Context
from chatbridge.errors import CommandError, NotFound
from chatbridge.forum.text import inert, quote_input
from chatbridge.model import OutgoingMessage, Privilege
from chatbridge.registry import Param, command
from chatbridge.render.escape import escape_user_text
from chatbridge.render.templates import Trusted
from chatbridge.services import directory
from chatbridge.services.digest.render import (
    DigestTemplates,
    RenderedDigest,
    links_via,
    platform_parts,
    sample_context,
)
from chatbridge.services.digest.runner import claim, compose, room_of, trophy_titles
from chatbridge.services.digest.sandbox import TemplateProblem
from chatbridge.services.digest.schedule import (
    WEEKDAYS,
    Period,
    ScheduleError,
    WeeklySlot,
    parse_timezone,
    parse_weekday,
    rolling_week,
)
from chatbridge.services.ingest import Notice
from chatbridge.store.tables import DigestRun, DigestSchedule, OutboxItem, SubForum

_CHANNEL_MENTION = re.compile(r"<#(\d+)>")
_MINIMUM_PREVIEW = timedelta(minutes=1)
_CHANNEL = Param("A channel or room by name (quote names with spaces), or 'here'")


def _channel(ctx: Context, text: str | None) -> SubForum:
    """The sub-forum a moderator means: 'here', a Discord channel mention, a room id or a name."""
    wanted = (text or "").strip()
    if wanted.casefold() in {"", "here", "this"}:
        if ctx.subforum is None:
            raise CommandError("Name a channel, or use this inside one.")
        return ctx.subforum
    mention = _CHANNEL_MENTION.fullmatch(wanted)
    room_id = mention.group(1) if mention else wanted
    hidden = ctx.hidden_subforums()  # private channels this moderator cannot read: not there for them
    found = ctx.session.exec(
        select(SubForum).where(
            SubForum.community_id == ctx.community.id, SubForum.platform_room_id == room_id
        )
    ).first()
    if found is not None and found.id not in hidden:
        return found
    try:
        return directory.subforum_by_name(ctx.session, ctx.community, wanted, hidden=hidden)
    except NotFound:
        names = ctx.session.exec(
            select(SubForum.name)
            .where(SubForum.community_id == ctx.community.id, col(SubForum.id).not_in(hidden))
            .order_by(col(SubForum.position))
        ).all()
        known = ", ".join(escape_user_text(name) for name in names)
        raise CommandError(
            f"I don't know a channel called {quote_input(wanted)}. Channels here: {known}."
        ) from None


def _schedule_of(ctx: Context, subforum: SubForum) -> DigestSchedule | None:
    return ctx.session.exec(
        select(DigestSchedule).where(
            DigestSchedule.community_id == ctx.community.id, DigestSchedule.subforum_id == subforum.id
        )
    ).first()


def _slot(schedule: DigestSchedule) -> WeeklySlot:
    return WeeklySlot.of(schedule.weekday, schedule.hour, schedule.timezone)


def _local(moment: datetime, slot: WeeklySlot) -> Trusted:
    """ "Mon Jul 21, 2025 09:00 BST": composed by the bot, so templates show it as it is."""
    local = moment.astimezone(slot.zone)
    return Trusted(f"{local:%a %b} {local.day}, {local:%Y %H:%M} {local.tzname()}")


def _templates(ctx: Context) -> DigestTemplates:
    return DigestTemplates(ctx.core.settings.digest)


async def _compose(ctx: Context, period: Period, timezone: str, template: str | None) -> RenderedDigest:
    """The community's digest for `period`, linked through the platform the command came from."""
    return await asyncio.to_thread(
        compose,
        ctx.session,
        ctx.core.settings,
        trophy_titles(ctx.core.trophies),
        ctx.community,
        period,
        timezone=timezone,
        template=template,
        link=links_via({ctx.platform.name: ctx.platform}),
    )


def _problem_line(problem: TemplateProblem) -> str:
    """ "mine.md.j2, line 3: …" with the template's name and Jinja2's words escaped, not the colons."""
    where = ", ".join(
        part
        for part in (
            escape_user_text(problem.template) if problem.template else None,
            f"line {problem.line}" if problem.line else None,
        )
        if part
    )
    message = escape_user_text(" ".join(problem.message.split()))  # a refusal is one line
    return f"{where}: {message}" if where else message


@command(
    "digest schedule",
    help="Post a weekly digest into a channel at a weekday, hour (0-23) and IANA time zone.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def digest_schedule(
    ctx: Context,
    channel: Annotated[str, _CHANNEL],
    weekday: Annotated[str, Param("The weekday, monday … sunday (or mon … sun)")],
    hour: Annotated[int, Param("The hour of the day, 0 to 23", min_value=0, max_value=23)],
    timezone: Annotated[str, Param("An IANA time zone, such as Europe/London")],
    template: Annotated[str | None, Param("An admin's template file (default: the bundled one)")] = None,
) -> OutgoingMessage:
    subforum = _channel(ctx, channel)
    try:
        day = parse_weekday(weekday)
        zone = parse_timezone(timezone)
    except ScheduleError as error:
        raise CommandError(error.describe(inert)) from None
    if template:
        templates = _templates(ctx)
        problem = await asyncio.to_thread(templates.check, template, sample_context(ctx.community.name, zone))
        if problem is not None:
            raise CommandError(
                f"I didn't schedule it: {_problem_line(problem).rstrip('.')}. "
                "Fix the template, or leave it out to use the bundled one."
            )
    schedule = _schedule_of(ctx, subforum)
    assert ctx.community.id is not None and subforum.id is not None
    if schedule is None:
        schedule = DigestSchedule(
            community_id=ctx.community.id, subforum_id=subforum.id, weekday=day, hour=hour
        )
        ctx.session.add(schedule)
    schedule.weekday, schedule.hour, schedule.timezone = day, hour, zone
    schedule.template = template or None
    schedule.enabled = True
    schedule.created_by_member_id = ctx.member.id
    # A schedule counts from when it was (re)set: a slot that already passed this week is not
    # posted at once; the first digest comes at the next slot.
    schedule.created_at = ctx.now
    ctx.session.flush()
    ctx.log_action("digest_schedule", subforum=subforum.name, weekday=day, hour=hour, timezone=zone)
    slot = _slot(schedule)
    return ctx.reply(
        "digest/scheduled.md.j2",
        subforum=subforum,
        weekday=WEEKDAYS[day].capitalize(),
        hour=Trusted(f"{hour:02d}:00"),
        timezone=Trusted(zone),
        template=template,
        next_post=_local(slot.next(ctx.now), slot),
    )


def _preview_period(ctx: Context, schedule: DigestSchedule | None) -> Period:
    """What the next scheduled digest covers so far (the last full week right after a post)."""
    if schedule is None:
        return rolling_week(ctx.now)
    slot = _slot(schedule)
    start = slot.previous(ctx.now)
    if ctx.now - start < _MINIMUM_PREVIEW:
        return slot.period_ending(start)
    return Period(start, ctx.now)


@command(
    "digest preview",
    help="Show the digest a channel would get now, only to you.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def digest_preview(ctx: Context, channel: Annotated[str | None, _CHANNEL] = None) -> OutgoingMessage:
    subforum = _channel(ctx, channel)
    schedule = _schedule_of(ctx, subforum)
    timezone = schedule.timezone if schedule else ctx.core.settings.forum.timezone
    rendered = await _compose(
        ctx, _preview_period(ctx, schedule), timezone, schedule.template if schedule else None
    )
    markdown = rendered.markdown
    if rendered.problem is not None:
        markdown = (
            f"⚠ Your template could not be used, so this is the bundled one. "
            f"{_problem_line(rendered.problem)}\n\n{markdown}"
        )
    parts = platform_parts(ctx.platform.name, markdown)
    for index, part in enumerate(parts[1:], start=1):
        ctx.notices.append(
            Notice(
                ctx.event.room,
                OutgoingMessage(part, ephemeral=True),
                f"digest-preview:{ctx.event.event_id}:{index}",
                ctx.event.thread_id,
                reply_to=ctx.event,
            )
        )
    return ctx.say(parts[0] if parts else "The digest is empty.")


@command(
    "digest now",
    help="Post a digest of the last seven days into a channel with a schedule, now.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def digest_now(ctx: Context, channel: Annotated[str | None, _CHANNEL] = None) -> OutgoingMessage:
    subforum = _channel(ctx, channel)
    schedule = _schedule_of(ctx, subforum)
    if schedule is None or not schedule.enabled:
        prefix = ctx.core.registry.prefixes[0]
        raise CommandError(
            f"No digest is scheduled for {escape_user_text(subforum.name)}. Schedule one first: "
            f"`{prefix}digest schedule here monday 9 Europe/London`."
        )
    room = room_of(ctx.session, subforum)
    if room is None:
        raise CommandError("I don't know where that channel lives, so I can't post there.")
    period = rolling_week(ctx.now)
    rendered = await _compose(ctx, period, schedule.timezone, schedule.template)
    run = claim(
        ctx.session,
        schedule=schedule,
        period=period,
        room=room,
        parts=platform_parts(room.platform, rendered.markdown),
        now=ctx.now,
        claimed_by=f"command:{ctx.event.event_id}",
    )
    if run is None:
        return ctx.say("That digest is already on its way.")
    ctx.log_action("digest_now", subforum=subforum.name)
    note = (
        f"\n⚠ {_problem_line(rendered.problem)} (the bundled template was used)" if rendered.problem else ""
    )
    return ctx.say(
        f"Posting the digest of the last seven days in {escape_user_text(subforum.name)} now.{note}"
    )


@command(
    "digest off",
    help="Stop a channel's weekly digest ('here' by default).",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def digest_off(ctx: Context, channel: Annotated[str | None, _CHANNEL] = None) -> OutgoingMessage:
    subforum = _channel(ctx, channel)
    schedule = _schedule_of(ctx, subforum)
    if schedule is None or not schedule.enabled:
        raise CommandError(f"There is no weekly digest in {escape_user_text(subforum.name)} to turn off.")
    schedule.enabled = False
    ctx.log_action("digest_off", subforum=subforum.name)
    prefix = ctx.core.registry.prefixes[0]
    return ctx.say(
        f"The weekly digest in {escape_user_text(subforum.name)} is off. "
        f"`{prefix}digest schedule` turns it back on."
    )


@command(
    "digest list",
    help="List the community's digest schedules, when each posts next and last posted.",
    privilege=Privilege.MODERATOR,
    ephemeral=True,
)
async def digest_list(ctx: Context) -> OutgoingMessage:
    rows = ctx.session.exec(
        select(DigestSchedule, SubForum)
        .join(SubForum, col(SubForum.id) == DigestSchedule.subforum_id)
        .where(DigestSchedule.community_id == ctx.community.id)
        .order_by(col(SubForum.position), col(SubForum.name))
    ).all()
    templates = _templates(ctx)
    entries = []
    for schedule, subforum in rows:
        slot = _slot(schedule)
        last = ctx.session.exec(
            select(DigestRun, OutboxItem.done_at)
            .outerjoin(OutboxItem, col(OutboxItem.id) == DigestRun.outbox_id)
            .where(DigestRun.schedule_id == schedule.id)
            .order_by(col(DigestRun.claimed_at).desc(), col(DigestRun.id).desc())
        ).first()
        posted_at = (last[0].posted_at or last[1]) if last is not None else None
        problem = None
        if schedule.template:
            problem = await asyncio.to_thread(
                templates.check, schedule.template, sample_context(ctx.community.name, schedule.timezone)
            )
        entries.append(
            {
                "subforum": subforum.name,
                "weekday": WEEKDAYS[schedule.weekday].capitalize(),
                "hour": Trusted(f"{schedule.hour:02d}:00"),
                "timezone": Trusted(schedule.timezone),
                "enabled": schedule.enabled,
                "template": schedule.template,
                "problem": Trusted(_problem_line(problem)) if problem else None,
                "next_post": _local(slot.next(ctx.now), slot) if schedule.enabled else None,
                "last_posted": _local(posted_at, slot) if posted_at else None,
                "pending": last is not None and posted_at is None,
            }
        )
    return ctx.reply("digest/list.md.j2", entries=entries)
