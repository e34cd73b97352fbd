"""What the parts of `DiscordPlatform` share: the core, the client and the state of one run.

`DiscordPlatform` is assembled from mixins, one per module (`intake`, `places`, `catchup`,
`gateway`, `timeouts`, `invocations`, `verbs`); each reads and writes these attributes, which
`DiscordPlatform.__init__` sets up.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from chatbridge.adapters.discord import translate
from chatbridge.adapters.discord.cursors import CursorBook
from chatbridge.adapters.discord.holding import HoldLine
from chatbridge.adapters.discord.interactions import InteractionDesk
from chatbridge.adapters.discord.member_lists import MemberLists
from chatbridge.adapters.discord.tasks import TaskOwner
from chatbridge.config import DiscordConfig
from chatbridge.model import ChatEvent, PlatformName
from chatbridge.platform import EventSink
from chatbridge.registry import Registry

if TYPE_CHECKING:
    from chatbridge.adapters.discord.shell import BridgeClient, DiscordTuning
    from chatbridge.core import Core

Job = Callable[[], Awaitable[Sequence[ChatEvent]]]
"""A gateway event's work in the intake queue: resolve it, return the events to submit."""


class PlatformState:
    """The attributes every part of the platform may use (declared here, set in `__init__`)."""

    name: PlatformName
    core: Core
    config: DiscordConfig
    tuning: DiscordTuning
    client: BridgeClient
    _observer: Callable[[ChatEvent], None] | None
    _registry: Registry | None
    _sink: EventSink | None
    _closing: bool
    _work: TaskOwner
    _services: TaskOwner
    _catchup: TaskOwner
    _desk: InteractionDesk
    _intake: asyncio.Queue[Job] | None
    _slots: asyncio.Semaphore | None
    _gate: asyncio.Semaphore | None
    _book: CursorBook
    _line: HoldLine
    _places: OrderedDict[int, translate.Place]
    _askers: OrderedDict[tuple[int, int], discord.Member]
    _own_timeouts: OrderedDict[tuple[int, int, datetime | None], bool]
    _backfilling: dict[int, set[int]]
    _delivering: set[asyncio.Task[None]]
    _member_lists: MemberLists
    _own_nonces: OrderedDict[int, str]
