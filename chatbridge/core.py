"""The forum core: store, commands, templates and rules, independent of any platform.

One `Core` serves every connected platform at once, so a member is one person with one profile
whether they speak on Discord or Matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from chatbridge.config import Settings
from chatbridge.forum.ranks import TrophyConfig, load_trophy_config
from chatbridge.model import Actor, Privilege, like_source
from chatbridge.registry import Registry
from chatbridge.render.templates import Renderer
from chatbridge.services.ingest import BatchWatch, Ingestor, IngestRules
from chatbridge.services.leaderboard import Leaderboards
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.pileon.detector import PileOnWatch
from chatbridge.services.privacy_guard import PrivacyGuard
from chatbridge.store.engine import make_engine
from chatbridge.store.migrate import upgrade


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    """Everything a handler may need, built once per process and passed explicitly."""

    settings: Settings
    engine: Engine
    registry: Registry
    renderer: Renderer
    trophies: TrophyConfig
    clock: Callable[[], datetime] = utc_now
    ingestor: Ingestor = field(init=False)
    leaderboards: Leaderboards = field(init=False)

    def __post_init__(self) -> None:
        self.ingestor = Ingestor(
            engine=self.engine,
            rules=IngestRules(
                like_keys=frozenset(e.replace("\ufe0f", "") for e in self.settings.forum.like_reactions),
                trophies=self.trophies,
                renderer=self.renderer,
                announce_trophies=self.settings.forum.announce_trophies,
                privacy=PrivacyGuard(
                    self.settings.privacy_guard,
                    self.renderer,
                    Policy.from_settings(self.settings, self.renderer, self.registry.prefixes[0]),
                ),
            ),
            clock=self.clock,
            watch=self._safety_watch(),
        )
        self.leaderboards = Leaderboards(self.engine, self.clock)
        self.renderer.add_globals({"prefix": self.registry.prefixes[0]})

    def _safety_watch(self) -> BatchWatch:
        """The watchers on the ingest path (pile-on detection), as one call per batch."""
        policy = Policy.from_settings(self.settings, self.renderer, self.registry.prefixes[0])
        return PileOnWatch(self.settings.pileon, policy)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        migrate: bool = True,
        engine: Engine | None = None,
    ) -> Core:
        """Open the store (migrating it to the newest schema) and load commands and templates;
        `engine` (made with `make_engine`) replaces the one `settings.database_url` names."""
        engine = engine or make_engine(settings.database_url)
        if migrate:
            upgrade(engine)
        return cls(
            settings=settings,
            engine=engine,
            registry=Registry.from_package(prefixes=settings.forum.command_prefixes),
            renderer=Renderer(now=clock),
            trophies=load_trophy_config(settings.forum.trophies_file),
            clock=clock,
        )

    def privilege_of(self, actor: Actor) -> Privilege:
        """The platform's privilege, raised by the config's moderator and admin lists."""
        key = f"{actor.platform.value}:{actor.user_id}"
        moderation = self.settings.moderation
        level = actor.privilege
        if key in moderation.admins or actor.user_id in moderation.admins:
            level = max(level, Privilege.ADMIN)
        elif key in moderation.moderators or actor.user_id in moderation.moderators:
            level = max(level, Privilege.MODERATOR)
        return level

    def like_key(self, emoji: str) -> str | None:
        return like_source(emoji, self.ingestor.rules.like_keys)
