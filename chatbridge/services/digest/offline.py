"""A digest straight from the store, with no platform connected: `chatbridge digest`.

For admins trying a template, moderators checking what a week held, and the benchmark. Links are
left out (there is no platform to build them); everything else is the digest as it would be
posted, in Markdown or as the sanitised HTML a Matrix client would get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session, col, func, select

from chatbridge.config import Settings
from chatbridge.forum.ranks import TrophyConfigError, load_trophy_config
from chatbridge.model import PlatformName
from chatbridge.render.markdown import to_matrix
from chatbridge.services.digest.runner import compose, trophy_titles
from chatbridge.services.digest.sandbox import TemplateProblem
from chatbridge.services.digest.schedule import ScheduleError, iso_week_period
from chatbridge.store.engine import make_engine, redact_url
from chatbridge.store.tables import Community, CommunityBinding

__all__ = ["OfflineDigest", "OfflineError", "last_week", "offline_digest"]

Format = Literal["markdown", "html"]


class OfflineError(Exception):
    """Something the person at the terminal can fix; the message is one line."""


@dataclass(frozen=True, slots=True)
class OfflineDigest:
    text: str
    problem: TemplateProblem | None


def last_week(now: datetime, timezone: str) -> str:
    """The ISO week before the one `now` falls in, in `timezone` ("2025-W28")."""
    year, week, _ = (now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def offline_digest(
    settings: Settings,
    community_name: str,
    week: str,
    output: Format = "markdown",
    template: str | None = None,
) -> OfflineDigest:
    """The digest of one ISO week in the forum's time zone; raises OfflineError."""
    timezone = settings.forum.timezone
    try:
        period = iso_week_period(week, timezone)
    except ScheduleError as error:
        raise OfflineError(f"--week: {error}") from None
    try:
        titles = trophy_titles(load_trophy_config(settings.forum.trophies_file))
    except TrophyConfigError as error:
        raise OfflineError(str(error)) from None
    try:
        engine = make_engine(settings.database_url)
    except OSError as error:
        raise OfflineError(
            f"cannot open the store at {redact_url(settings.database_url)}: {error.strerror}"
        ) from None
    try:
        with Session(engine) as session:
            community = _community(session, community_name)
            rendered = compose(
                session, settings, titles, community, period, timezone=timezone, template=template
            )
    except (OperationalError, ProgrammingError) as error:
        raise OfflineError(
            f"cannot read the store at {redact_url(settings.database_url)} "
            f"(run `chatbridge db upgrade` first?): {str(error.orig).strip().splitlines()[0]}"
        ) from None
    finally:
        engine.dispose()
    text = rendered.markdown if output == "markdown" else to_matrix(rendered.markdown)[1]
    return OfflineDigest(text, rendered.problem)


def _community(session: Session, wanted: str) -> Community:
    """The community called `wanted` (its name, any case) or bound to it (`discord:<guild id>`,
    `matrix:<space id>`: the id form works before a platform has told the community's name)."""
    text = wanted.strip()
    found = session.exec(select(Community).where(Community.name == text)).first()
    if found is None:
        found = _bound_to(session, text)
    if found is None:
        found = session.exec(select(Community).where(func.lower(Community.name) == text.lower())).first()
    if found is not None:
        return found
    raise OfflineError(
        f"--community: no community called {wanted!r} in the store "
        f"(communities: {_known_communities(session)})"
    )


def _bound_to(session: Session, text: str) -> Community | None:
    platform, _, platform_id = text.partition(":")
    if platform.lower() not in {p.value for p in PlatformName} or not platform_id:
        return None
    query = select(Community).join(CommunityBinding, col(CommunityBinding.community_id) == col(Community.id))
    exact = query.where(
        CommunityBinding.platform == platform.lower(), CommunityBinding.platform_id == platform_id
    )
    return (
        session.exec(exact).first()
        or session.exec(
            query.where(
                CommunityBinding.platform == platform.lower(),
                func.lower(CommunityBinding.platform_id) == platform_id.lower(),
            )
        ).first()
    )


def _known_communities(session: Session, limit: int = 20) -> str:
    """Each community in both forms `--community` takes: 'Cardiology Commons' (discord:1234)."""
    communities = session.exec(select(Community).order_by(col(Community.name)).limit(limit)).all()
    if not communities:
        return "none yet"
    bindings: dict[int | None, list[str]] = {}
    for binding in session.exec(
        select(CommunityBinding)
        .where(col(CommunityBinding.community_id).in_([c.id for c in communities]))
        .order_by(col(CommunityBinding.platform), col(CommunityBinding.platform_id))
    ).all():
        bindings.setdefault(binding.community_id, []).append(f"{binding.platform}:{binding.platform_id}")
    return ", ".join(
        f"{c.name!r} ({', '.join(bindings[c.id])})" if bindings.get(c.id) else repr(c.name)
        for c in communities
    )
