"""The discord.py shell: the client, and `DiscordPlatform` assembled from its parts.

Thin by design: `translate` decides what an event means, `commands` shapes the command tree,
`interactions` answers interactions, `backfill` catches up after an IDENTIFY. `DiscordPlatform`
is put together from mixins over the shared `state.PlatformState`: `intake` (the queue and
delivery), `places` (where things are), `gateway` (gateway events), `catchup` (backfill wiring),
`invocations` (interactions into commands), `verbs` (the Platform verbs) and `timeouts` (the
bot's own timeouts). This module owns the client and every task (the lifecycle), and the parts
keep the order of events:

* Gateway events go through one intake queue. A single pump resolves each (a channel lookup,
  rarely a REST fetch) in arrival order and submits it to the sink; many submissions are in
  flight at once (the core commits them in batches) but they enter the core in arrival order,
  which is what makes reaction adds and removals (state assertions, see `translate`) correct.
* A thread's stored position moves (a `CursorMoved` through the same sink) only for messages the
  core has durably applied, at most every `cursor_interval` seconds.
* `stop` stops intake, lets in-flight work finish, writes the positions, then disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from chatbridge.adapters.discord import translate
from chatbridge.adapters.discord.backfill import BackfillLimits
from chatbridge.adapters.discord.commands import build_tree
from chatbridge.adapters.discord.cursors import CursorBook
from chatbridge.adapters.discord.gateway import GatewayEvents
from chatbridge.adapters.discord.holding import HoldLine
from chatbridge.adapters.discord.interactions import ActionButton, InteractionDesk
from chatbridge.adapters.discord.invocations import Invocations
from chatbridge.adapters.discord.member_lists import MemberLists
from chatbridge.adapters.discord.tasks import TaskOwner
from chatbridge.adapters.discord.verbs import Verbs
from chatbridge.config import DiscordConfig, Settings
from chatbridge.model import ChatEvent, PlatformName
from chatbridge.platform import EventSink, PlatformError
from chatbridge.registry import Registry

if TYPE_CHECKING:
    from chatbridge.core import Core

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiscordTuning:
    """Timings and bounds; the defaults suit Discord, tests shorten the waits."""

    defer_after: float = 0.6
    """Seconds before an unanswered interaction is deferred (Discord allows 3): well inside the
    deadline, so the deferral itself still arrives in time over a slow link or a busy loop."""
    guild_ready_timeout: float = 2.0
    identify_pause: bool = True
    """discord.py's 5 s pause before each re-IDENTIFY (Discord's identify rate limit)."""
    cursor_interval: float = 2.0
    max_in_flight: int = 1000
    autocomplete_timeout: float = 2.0
    stop_timeout: float = 10.0
    sync_commands: bool = True
    retry_first: float = 1.0
    retry_most: float = 60.0
    """Pauses (first, longest) before asking Discord again after a passing failure while reading."""
    backfill: BackfillLimits = field(default_factory=BackfillLimits)
    member_list_interval: float = 30.0
    """Discord's minimum between two requests for a guild's whole member list."""
    member_list_timeout: float = 60.0
    """How long to wait for the member list before giving up until the next connection."""


def intents_for(config: DiscordConfig) -> discord.Intents:
    """The least the forum needs: guilds (channels, threads, roles), guild messages, reactions,
    members (joins and leaves; privileged) and, when configured, message content (privileged)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.guild_reactions = True
    intents.members = True
    intents.moderation = True  # audit-log entries: timeouts moderators give by hand (VIEW_AUDIT_LOG)
    intents.message_content = config.message_content
    return intents


class BridgeClient(discord.Client):
    """discord.py's client with its events routed to the platform."""

    def __init__(self, bridge: DiscordPlatform, **options: Any) -> None:
        super().__init__(**options)
        self.bridge = bridge
        self.tree: app_commands.CommandTree[BridgeClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton)
        await self.bridge.sync_commands()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.bridge.tuning.identify_pause:
            await super().before_identify_hook(shard_id, initial=initial)

    async def pressed(self, interaction: discord.Interaction, custom_id: str) -> None:
        await self.bridge.pressed(interaction, custom_id)

    # The gateway events the forum reads; each becomes a job in the intake queue.

    async def on_guild_available(self, guild: discord.Guild) -> None:
        self.bridge.guild_available(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.bridge.guild_available(guild)

    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        if before.name != after.name:
            self.bridge.guild_renamed(after)

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        self.bridge.channel_seen(channel)

    async def on_guild_channel_update(
        self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        self.bridge.channel_seen(after)
        self.bridge.forum_changed(before, after)

    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        self.bridge.thread_changed(payload)

    async def on_message(self, message: discord.Message) -> None:
        self.bridge.message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.bridge.message_edit(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.bridge.message_delete(payload.guild_id, payload.channel_id, [payload.message_id])

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        self.bridge.message_delete(payload.guild_id, payload.channel_id, sorted(payload.message_ids))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.bridge.reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        self.bridge.reaction(payload, added=False)

    async def on_raw_reaction_clear(self, payload: discord.RawReactionClearEvent) -> None:
        self.bridge.reactions_cleared(payload.guild_id, payload.channel_id, payload.message_id, None)

    async def on_raw_reaction_clear_emoji(self, payload: discord.RawReactionClearEmojiEvent) -> None:
        emoji = translate.emoji_key(payload.emoji)
        self.bridge.reactions_cleared(payload.guild_id, payload.channel_id, payload.message_id, emoji)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.bridge.thread_created(thread)

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        self.bridge.thread_deleted(payload)

    async def on_member_join(self, member: discord.Member) -> None:
        self.bridge.member_joined(member)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        self.bridge.member_left(payload)

    async def on_audit_log_entry_create(self, entry: discord.AuditLogEntry) -> None:
        self.bridge.audit_entry(entry)

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        """Member updates are read as they are parsed: `after` is discord.py's cached member,
        which the next update changes again before an `on_member_update` task would run."""
        if event == "member_update":
            try:
                self.bridge.member_updated(*args)
            except Exception:  # never let one update break discord.py's reading of the gateway
                log.exception("could not read a member update")
        elif event == "socket_raw_receive" and args:
            # RATE_LIMITED has no handler in discord.py; its payload reaches us only here.
            try:
                self.bridge.gateway_frame(args[0])
            except Exception:
                log.exception("could not read a gateway frame")
            return  # nobody listens to the raw frame itself: no task per frame
        super().dispatch(event, *args, **kwargs)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.bridge.interaction(interaction)

    async def on_resumed(self) -> None:
        log.info("discord session resumed; missed events are replayed by the gateway")


class ShardedBridgeClient(BridgeClient, discord.AutoShardedClient):
    """The same client over several shards (settings.discord.shard_count / shard_ids)."""


class DiscordPlatform(GatewayEvents, Invocations, Verbs):
    """Discord as a chatbridge Platform, assembled from its parts (see `state.PlatformState`)."""

    name: PlatformName = PlatformName.DISCORD

    def __init__(
        self,
        core: Core,
        *,
        settings: Settings | None = None,
        tuning: DiscordTuning | None = None,
        observer: Callable[[ChatEvent], None] | None = None,
    ) -> None:
        """`observer` is told of every event once the core has applied it (monitoring, tests)."""
        self.core = core
        self._observer = observer
        settings = settings or core.settings
        self.config = settings.discord
        self.tuning = tuning or DiscordTuning()
        token = settings.discord_token
        if token is None:
            raise PlatformError("Discord needs a bot token: set CHATBRIDGE_DISCORD_TOKEN.")
        self._token = token.get_secret_value()
        self._registry = None
        self._sink = None
        self._closing = False
        self._work = TaskOwner("discord work")
        self._services = TaskOwner("discord services")
        self._catchup = TaskOwner("discord backfill")
        self._desk = InteractionDesk(self._work, defer_after=self.tuning.defer_after)
        self._intake = None
        self._slots = None
        self._gate = None
        self._book = CursorBook()
        self._line = HoldLine()
        self._places = OrderedDict()
        self._askers = OrderedDict()
        self._own_timeouts = OrderedDict()
        self._own_nonces = OrderedDict()
        self._backfilling = {}
        self._delivering = set()
        self._member_lists = MemberLists(
            interval=self.tuning.member_list_interval, timeout=self.tuning.member_list_timeout
        )
        self._runner: asyncio.Task[None] | None = None
        self.client = self._make_client()

    def _make_client(self) -> BridgeClient:
        config = self.config
        options: dict[str, Any] = {
            "intents": intents_for(config),
            "allowed_mentions": discord.AllowedMentions.none(),
            "chunk_guilds_at_startup": False,
            "enable_debug_events": True,  # the raw frames: the only way to read RATE_LIMITED
            "guild_ready_timeout": self.tuning.guild_ready_timeout,
        }
        if config.application_id is not None:
            options["application_id"] = config.application_id
        if config.shard_count is None and config.shard_ids is None:
            return BridgeClient(self, **options)
        if config.shard_ids is not None:
            if config.shard_count is None:
                raise PlatformError(
                    "discord.shard_ids needs discord.shard_count (the total number of shards)."
                )
            bad = [s for s in config.shard_ids if not 0 <= s < config.shard_count]
            if bad:
                raise PlatformError(f"discord.shard_ids {bad} are outside 0..{config.shard_count - 1}.")
            options["shard_ids"] = list(config.shard_ids)
        options["shard_count"] = config.shard_count
        return ShardedBridgeClient(self, **options)

    # -- lifecycle -------------------------------------------------------------------------------

    async def register_commands(self, registry: Registry) -> None:
        """Build the command tree; it is published (synced) once the client has logged in."""
        self._registry = registry
        build_tree(self.client.tree, registry, self)

    async def sync_commands(self) -> None:
        """Publish the commands: to the configured guilds (instant), else globally.

        Only the process that runs shard 0 (or the only one) publishes, so several processes on
        distinct shard ranges do not overwrite each other.
        """
        if not self.tuning.sync_commands or self._registry is None:
            return
        if self.config.shard_ids is not None and 0 not in self.config.shard_ids:
            return
        tree = self.client.tree
        try:
            if self.config.guild_ids:
                for guild_id in self.config.guild_ids:
                    guild = discord.Object(guild_id)
                    tree.copy_global_to(guild=guild)
                    await tree.sync(guild=guild)
            else:
                await tree.sync()
        except discord.HTTPException:
            log.exception("could not publish the application commands; the old ones stay in place")

    async def start(self, sink: EventSink) -> None:
        """Log in and connect; returns once the client is ready (or raises why it could not be)."""
        self._sink = sink
        self._closing = False
        self._intake = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.tuning.max_in_flight)
        self._gate = asyncio.Semaphore(self.tuning.backfill.concurrency)
        self._services.spawn(self._pump(), "intake")
        self._services.spawn(self._cursor_loop(), "cursors")
        self._runner = asyncio.create_task(self.client.start(self._token), name="discord client")
        ready = asyncio.create_task(self.client.wait_until_ready(), name="discord ready")
        try:
            await asyncio.wait({ready, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
        if self._runner.done():
            error = self._runner.exception()
            await self._services.close(0)
            await self.client.close()
            raise PlatformError(f"Discord client stopped before it was ready: {error!r}") from error

    async def stop(self) -> None:
        self._closing = True
        await self._catchup.close(0)
        await self._work.close(self.tuning.stop_timeout)
        await self._flush_cursors()
        await self._work.close(self.tuning.stop_timeout)
        await self._services.close(0)
        await self.client.close()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner
            self._runner = None
        self._sink = None
