"""Discord, through discord.py: community = guild, sub-forum = text or forum channel, thread = thread.

`build_platform` is what `chatbridge run` calls when `discord.enabled` is set. The package splits
into `translate` (pure: payloads <-> neutral model), `commands` (the registry as application
commands), `interactions` (answering on time, buttons, modals), `backfill` (catching up after an
IDENTIFY), `cursors` (stream positions) and `shell` (the client and the platform's lifecycle),
which assembles `DiscordPlatform` from `intake`, `places`, `gateway`, `catchup`, `invocations`,
`verbs` and `timeouts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbridge.adapters.discord.shell import DiscordPlatform, DiscordTuning, intents_for

if TYPE_CHECKING:
    from chatbridge.config import Settings
    from chatbridge.core import Core
    from chatbridge.platform import Platform

__all__ = ["DiscordPlatform", "DiscordTuning", "build_platform", "intents_for"]


def build_platform(settings: Settings, core: Core, *, tuning: DiscordTuning | None = None) -> Platform:
    """The Discord platform for `core`, configured by `settings.discord` and its token."""
    return DiscordPlatform(core, settings=settings, tuning=tuning)
