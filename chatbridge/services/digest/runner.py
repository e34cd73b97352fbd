"""Posting digests exactly once: the scheduler loop, the claim, and the outbox executor.

Exactly once, across restarts and across bot processes sharing one store, rests on one insert:
`DigestRun` has a unique (schedule, period start). A process that finds a period due renders the
digest, then in one transaction inserts the run *and* enqueues the outbox row that posts it (its
dedupe key derives from the run's schedule and period). Whoever commits first owns the period;
everyone else's insert fails and their transaction (outbox row included) rolls back. The outbox
then carries the post out, retrying until it lands, with one idempotency key per message part,
so a crash between the claim and the post delays the digest but never loses or repeats it.

Because "due" means "the newest fire time has passed and its run does not exist", a digest
missed while every bot was down is posted at the next start, as long as its week is still the
newest one; a run is never posted twice.

A digest is one outbox row of kind "digest" whose parts are posted in order (a failed part is
retried before the next one goes out, and parts already posted are recognised by their keys).

When an admin's template cannot be used at post time, the digest is posted with the bundled one
and the admins are told, in the same transaction as the claim (so once per period): in the admins'
room, else the moderators' queue room, else by direct message to whoever set the schedule.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chatbridge.config import Settings
from chatbridge.forum.ranks import TrophyConfig
from chatbridge.model import OutgoingMessage, PlatformName, Room
from chatbridge.platform import Platform, part_key
from chatbridge.render.templates import Renderer
from chatbridge.services.digest.content import DigestRules, build_digest
from chatbridge.services.digest.render import (
    DigestTemplates,
    LinkResolver,
    RenderedDigest,
    digest_context,
    links_via,
    platform_parts,
)
from chatbridge.services.digest.sandbox import TemplateProblem
from chatbridge.services.digest.schedule import Period, WeeklySlot
from chatbridge.services.moderation.notices import enqueue_dm, queue_room
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import Executor, enqueue, execute_send, send_payload
from chatbridge.store.tables import (
    Community,
    CommunityBinding,
    DigestRun,
    DigestSchedule,
    Member,
    OutboxItem,
    SubForum,
)
from chatbridge.waiting import wait_event

__all__ = [
    "DIGEST_KIND",
    "DigestRunner",
    "claim",
    "compose",
    "digest_executors",
    "execute_digest",
    "problem_key",
    "room_of",
    "run_key",
    "tell_admins",
    "trophy_titles",
]

log = logging.getLogger(__name__)

DIGEST_KIND = "digest"


def run_key(schedule_id: int, period: Period) -> str:
    """The outbox dedupe key of a run: the same (schedule, period) can never enqueue twice."""
    return f"digest:{schedule_id}:{period.start.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def problem_key(schedule_id: int, period: Period) -> str:
    """The outbox dedupe key of the admins' notice about a run's template: one per run."""
    return f"{run_key(schedule_id, period)}:template-problem"


def trophy_titles(config: TrophyConfig) -> dict[str, str]:
    return {trophy.key: trophy.title for trophy in config.trophies}


def room_of(session: Session, subforum: SubForum) -> Room | None:
    """Where a sub-forum's digest is posted: its room, with the guild or space it belongs to."""
    community_platform_id = session.exec(
        select(CommunityBinding.platform_id).where(
            CommunityBinding.community_id == subforum.community_id,
            CommunityBinding.platform == subforum.platform,
        )
    ).first()
    if community_platform_id is None:
        return None
    return Room(
        PlatformName(subforum.platform), community_platform_id, subforum.platform_room_id, subforum.name
    )


def compose_context(
    session: Session,
    settings: Settings,
    titles: Mapping[str, str],
    community: Community,
    period: Period,
    timezone: str,
    link: LinkResolver | None,
) -> dict[str, Any]:
    """The template data of `community` over `period`, read in `session`."""
    digest = build_digest(session, community, period, DigestRules.from_config(settings.digest), titles)
    return digest_context(digest, timezone, link)


def compose(
    session: Session,
    settings: Settings,
    titles: Mapping[str, str],
    community: Community,
    period: Period,
    *,
    timezone: str,
    template: str | None = None,
    link: LinkResolver | None = None,
    templates: DigestTemplates | None = None,
) -> RenderedDigest:
    """The digest's Markdown (read and rendered in one go, for previews and the command line)."""
    context = compose_context(session, settings, titles, community, period, timezone, link)
    return (templates or DigestTemplates(settings.digest)).render(context, template)


def claim(
    session: Session,
    *,
    schedule: DigestSchedule,
    period: Period,
    room: Room,
    parts: Sequence[str],
    now: datetime,
    claimed_by: str,
) -> DigestRun | None:
    """Claim (schedule, period) and enqueue its post, in the caller's transaction.

    Returns None when the period is already claimed (by anyone, at any time); the caller commits.
    """
    assert schedule.id is not None
    run = DigestRun(
        schedule_id=schedule.id,
        period_start=period.start,
        period_end=period.end,
        claimed_at=now,
        claimed_by=claimed_by[:128],
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None
    item = enqueue(
        session,
        platform=room.platform,
        kind=DIGEST_KIND,
        payload={"parts": [send_payload(room, OutgoingMessage(part)) for part in parts]},
        dedupe_key=run_key(schedule.id, period),
        now=now,
        community_id=schedule.community_id,
    )
    run.outbox_id = item.id
    session.flush()
    return run


def tell_admins(
    session: Session,
    policy: Policy,
    *,
    schedule: DigestSchedule,
    room: Room,
    text: str,
    dedupe_key: str,
    now: datetime,
) -> str | None:
    """Queue `text` for the admins, in the caller's transaction; says where it went (None: nowhere).

    The admins' room first, then the moderators' queue room (both from `moderation.*`, on the
    digest's platform), else a direct message to the member who set the schedule, on the digest's
    platform if they have an account there.
    """
    message = OutgoingMessage(text)
    for escalated in (True, False):
        found = queue_room(session, policy, schedule.community_id, room.platform, escalated=escalated)
        if found is not None:
            enqueue(
                session,
                platform=room.platform,
                kind="send",
                payload=send_payload(found, message),
                dedupe_key=dedupe_key,
                now=now,
                community_id=schedule.community_id,
            )
            return f"room {found.room_id}"
    member = session.get(Member, schedule.created_by_member_id) if schedule.created_by_member_id else None
    if member is None:
        return None
    written = enqueue_dm(session, member, message, dedupe_key=dedupe_key, now=now, prefer=room.platform)
    return f"direct message to member {written.member_id}" if written is not None else None


async def execute_digest(platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """Post a digest's parts in order; each part has its own idempotency key (`key:index`)."""
    sent: list[str] = []
    for index, part in enumerate(payload["parts"]):
        result = await execute_send(platform, part, part_key(key, str(index)))
        sent.append(str(result["message_id"]))
    return {"message_ids": sent}


def digest_executors() -> dict[str, Executor]:
    """The outbox kinds digests add to the core's."""
    return {DIGEST_KIND: execute_digest}


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Due:
    schedule_id: int
    period: Period


@dataclass
class DigestRunner:
    """The scheduler loop of one bot process: claims due periods and enqueues their posts.

    Only schedules whose sub-forum is on a platform this process has connected are handled here
    (another process with that platform posts the others), so every claimed digest gets its links.
    """

    engine: Engine
    settings: Settings
    titles: Mapping[str, str]
    platforms: Mapping[PlatformName, Platform]
    clock: Callable[[], datetime]
    notify: Callable[[], None] = _nothing
    worker: str = field(default_factory=_worker_name)
    poll_interval: float = 30.0
    templates: DigestTemplates = field(init=False)
    policy: Policy = field(init=False)
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _progress: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _started: int = field(init=False, default=0)
    _finished: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.templates = DigestTemplates(self.settings.digest)
        self.policy = Policy.from_settings(self.settings, Renderer(), self.settings.forum.command_prefixes[0])

    async def run(self) -> None:
        """Tick at once, then every `poll_interval` (or when woken) until cancelled; a failing
        tick is logged and retried, it never stops the bot."""
        while True:
            self._wake.clear()
            self._started += 1
            try:
                if await asyncio.to_thread(self.run_once):
                    self.notify()
            except Exception:
                log.exception("the digest scheduler failed; trying again in %.0f s", self.poll_interval)
            finally:
                self._finished = self._started
                progress, self._progress = self._progress, asyncio.Event()
                progress.set()
            await wait_event(self._wake, self.poll_interval)

    def wake(self) -> None:
        """Check for due digests now rather than at the next poll (the clock may have moved)."""
        self._wake.set()

    async def tick(self) -> None:
        """Wake the loop and return once a check that began after this call has finished.

        For callers that moved the clock (tests) and for "nothing was due" to mean something:
        after `tick()` every period due by the clock's time is claimed and its post enqueued.
        Only a running loop finishes checks: bound the wait (`asyncio.timeout`) where it may not be.
        """
        wanted = self._started + 1
        self.wake()
        while self._finished < wanted:
            await self._progress.wait()

    def run_once(self, now: datetime | None = None) -> list[DigestRun]:
        """Claim and enqueue every digest due at `now` (default: the clock); returns the new runs."""
        now = now or self.clock()
        runs = [run for due in self._due(now) if (run := self._post(due, now)) is not None]
        self._mark_posted()
        return runs

    def _due(self, now: datetime) -> list[_Due]:
        names = [name.value for name in self.platforms]
        with Session(self.engine) as session:
            schedules = session.exec(
                select(DigestSchedule)
                .join(SubForum, col(SubForum.id) == DigestSchedule.subforum_id)
                .where(col(DigestSchedule.enabled), col(SubForum.platform).in_(names))
                .order_by(col(DigestSchedule.id))
            ).all()
            due: list[_Due] = []
            for schedule in schedules:
                assert schedule.id is not None
                try:
                    slot = WeeklySlot.of(schedule.weekday, schedule.hour, schedule.timezone)
                except (ZoneInfoNotFoundError, ValueError):
                    log.warning(
                        "digest schedule %s has an unknown time zone %r", schedule.id, schedule.timezone
                    )
                    continue
                period = slot.due(now, schedule.created_at)
                if period is not None and not _claimed(session, schedule.id, period):
                    due.append(_Due(schedule.id, period))
            return due

    def _post(self, due: _Due, now: datetime) -> DigestRun | None:
        """Read and render outside the claim, then claim and enqueue in one short transaction."""
        with Session(self.engine, expire_on_commit=False) as session:
            schedule = session.get(DigestSchedule, due.schedule_id)
            if schedule is None or not schedule.enabled or _claimed(session, due.schedule_id, due.period):
                return None
            subforum = session.get(SubForum, schedule.subforum_id)
            community = session.get(Community, schedule.community_id)
            room = room_of(session, subforum) if subforum is not None else None
            if community is None or room is None:
                log.warning("digest schedule %s has no room to post in", schedule.id)
                return None
            context = compose_context(
                session,
                self.settings,
                self.titles,
                community,
                due.period,
                schedule.timezone,
                links_via(self.platforms),
            )
        rendered = self.templates.render(context, schedule.template)
        if rendered.problem is not None:
            log.warning(
                "digest schedule %s: template not used, posting with the bundled one: %s",
                schedule.id,
                rendered.problem,
            )
        parts = platform_parts(room.platform, rendered.markdown)
        with Session(self.engine, expire_on_commit=False) as session:
            run = claim(
                session,
                schedule=schedule,
                period=due.period,
                room=room,
                parts=parts,
                now=now,
                claimed_by=self.worker,
            )
            if run is None:
                session.rollback()
                return None
            if rendered.problem is not None:
                self._report(session, schedule, room, due.period, rendered.problem, now)
            session.commit()
            log.info(
                "digest of schedule %s for %s claimed by %s (%d part(s))",
                schedule.id,
                due.period.start.isoformat(),
                self.worker,
                len(parts),
            )
            return run

    def _report(
        self,
        session: Session,
        schedule: DigestSchedule,
        room: Room,
        period: Period,
        problem: TemplateProblem,
        now: datetime,
    ) -> None:
        """Tell the admins why their template was not used, with its line (once per run)."""
        assert schedule.id is not None
        text = self.templates.problem_notice(problem, channel=room.name, prefix=self.policy.prefix)
        key = problem_key(schedule.id, period)
        where = tell_admins(
            session, self.policy, schedule=schedule, room=room, text=text, dedupe_key=key, now=now
        )
        if where is None:
            log.warning(
                "digest schedule %s: no admins' room and nobody to tell about %s", schedule.id, problem
            )
        else:
            log.info("digest schedule %s: template problem reported (%s)", schedule.id, where)

    def _mark_posted(self) -> None:
        """Copy the outbox's completion onto runs, so `digest list` can say when each was posted."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(DigestRun, OutboxItem.done_at)
                .join(OutboxItem, col(OutboxItem.id) == DigestRun.outbox_id)
                .where(col(DigestRun.posted_at).is_(None), col(OutboxItem.done_at).is_not(None))
                .limit(100)
            ).all()
            for run, done_at in rows:
                run.posted_at = done_at
            if rows:
                session.commit()


def _claimed(session: Session, schedule_id: int, period: Period) -> bool:
    return (
        session.exec(
            select(DigestRun.id).where(
                DigestRun.schedule_id == schedule_id, DigestRun.period_start == period.start
            )
        ).first()
        is not None
    )
