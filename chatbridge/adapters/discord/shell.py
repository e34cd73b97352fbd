"""The discord.py shell: the Platform verbs, and gateway events into the core's sink.

Thin by design: `translate` decides what an event means, `commands` shapes the command tree,
`interactions` answers interactions, `backfill` catches up after an IDENTIFY. This module owns
the client and every task, and keeps the order of events:

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
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from sqlmodel import Session

from chatbridge.adapters.discord import cursors, deletions, likes, translate
from chatbridge.adapters.discord.backfill import Backfill, BackfillLimits
from chatbridge.adapters.discord.commands import build_tree, menu_form, press_form
from chatbridge.adapters.discord.cursors import CursorBook, GuildCursors
from chatbridge.adapters.discord.interactions import (
    ActionButton,
    InteractionDesk,
    action_view,
    button_label,
    form_modal,
)
from chatbridge.adapters.discord.tasks import TaskOwner
from chatbridge.config import DiscordConfig, Settings
from chatbridge.model import (
    ASK_OPTION,
    Actor,
    ChatEvent,
    CommandInvoked,
    MessagePosted,
    MessageRef,
    OutgoingMessage,
    PlatformName,
    Privilege,
    Room,
)
from chatbridge.platform import EventSink, MuteResult, PlatformError
from chatbridge.registry import CommandSpec, ParamSpec, Registry
from chatbridge.services.autocomplete import Suggestion, SuggestRequest, suggest
from chatbridge.store.engine import reading

if TYPE_CHECKING:
    from chatbridge.core import Core

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Sequence[ChatEvent]]]
PLACE_CACHE = 2048
OWN_TIMEOUTS = 1024


@dataclass(frozen=True, slots=True)
class DiscordTuning:
    """Timings and bounds; the defaults suit Discord, tests shorten the waits."""

    defer_after: float = 2.0
    """Seconds before an unanswered interaction is deferred (Discord allows 3)."""
    guild_ready_timeout: float = 2.0
    identify_pause: bool = True
    """discord.py's 5 s pause before each re-IDENTIFY (Discord's identify rate limit)."""
    cursor_interval: float = 2.0
    max_in_flight: int = 1000
    autocomplete_timeout: float = 2.0
    stop_timeout: float = 10.0
    sync_commands: bool = True
    backfill: BackfillLimits = field(default_factory=BackfillLimits)


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
        super().dispatch(event, *args, **kwargs)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.bridge.interaction(interaction)

    async def on_resumed(self) -> None:
        log.info("discord session resumed; missed events are replayed by the gateway")


class ShardedBridgeClient(BridgeClient, discord.AutoShardedClient):
    """The same client over several shards (settings.discord.shard_count / shard_ids)."""


class DiscordPlatform:
    """Discord as a chatbridge Platform."""

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
        self._registry: Registry | None = None
        self._sink: EventSink | None = None
        self._closing = False
        self._work = TaskOwner("discord work")
        self._services = TaskOwner("discord services")
        self._catchup = TaskOwner("discord backfill")
        self._desk = InteractionDesk(self._work, defer_after=self.tuning.defer_after)
        self._intake: asyncio.Queue[Job] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._gate: asyncio.Semaphore | None = None
        self._book = CursorBook()
        self._places: OrderedDict[int, translate.Place] = OrderedDict()
        self._own_timeouts: OrderedDict[tuple[int, int, datetime | None], bool] = OrderedDict()
        self._backfilling: dict[int, set[int]] = {}
        self._delivering: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.client = self._make_client()

    def _make_client(self) -> BridgeClient:
        config = self.config
        options: dict[str, Any] = {
            "intents": intents_for(config),
            "allowed_mentions": discord.AllowedMentions.none(),
            "chunk_guilds_at_startup": False,
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

    # -- intake ----------------------------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        if self._closing or self._intake is None:
            return
        self._intake.put_nowait(job)

    async def _pump(self) -> None:
        """Resolve gateway jobs one at a time, in arrival order, and submit their events."""
        assert self._intake is not None
        while True:
            job = await self._intake.get()
            try:
                for event in await job():
                    await self._submit(event)
            except Exception:
                log.exception("could not read a Discord event")
            finally:
                self._intake.task_done()

    async def _submit(self, event: ChatEvent) -> asyncio.Task[None]:
        """Start delivering `event`; deliveries enter the core in the order they were submitted."""
        assert self._slots is not None
        await self._slots.acquire()
        task = self._work.spawn(self._deliver(event), name=f"{type(event).__name__} {event.event_id}")
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)
        return task

    async def _delivered_so_far(self) -> None:
        """Wait until every event submitted until now has been applied (or has failed)."""
        if self._delivering:
            await asyncio.wait(set(self._delivering))

    async def _deliver(self, event: ChatEvent) -> None:
        assert self._slots is not None
        try:
            if self._sink is None:
                return
            await self._sink(event)
            if self._observer is not None:
                self._observer(event)
            if isinstance(event, MessagePosted) and event.thread_id is not None:
                guild_id = int(event.room.community_id)
                scope = translate.thread_scope(guild_id, int(event.thread_id))
                self._book.applied(guild_id, scope, int(event.message_id))
        finally:
            self._slots.release()

    async def _cursor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.cursor_interval)
            await self._flush_cursors()

    async def _flush_cursors(self) -> None:
        """Write the positions of threads whose newest messages are applied (after them, in order)."""
        moved = [
            await self._submit(
                translate.cursor_moved(guild_id=guild_id, scope=scope, value=value, at=self.core.clock())
            )
            for guild_id, scope, value in self._book.take()
        ]
        if moved:
            await asyncio.wait(moved)

    async def flush(self) -> None:
        """Wait until every event received so far is applied and positions are written (tests)."""
        assert self._intake is not None
        await self._intake.join()
        await self._work.wait()
        await self._flush_cursors()

    # -- where things are ------------------------------------------------------------------------

    async def _place(self, channel_id: int, channel: object = None) -> translate.Place | None:
        """A channel's place from the cache, or fetched once (archived threads are not cached)."""
        place = translate.place_of(channel) if channel is not None else None
        if place is None:
            place = translate.place_of(self.client.get_channel(channel_id))
        if place is None:
            place = self._places.get(channel_id)
        if place is None:
            try:
                fetched = await self.client.fetch_channel(channel_id)
            except discord.HTTPException:
                return None
            place = translate.place_of(fetched)
        if place is not None:
            self._places[channel_id] = place
            self._places.move_to_end(channel_id)
            while len(self._places) > PLACE_CACHE:
                self._places.popitem(last=False)
        return place

    def _default_room(self, guild: discord.Guild) -> Room | None:
        """Where guild-wide events (joins) are filed: the system channel or the first text channel."""
        channel: discord.abc.GuildChannel | None = guild.system_channel
        if channel is None:
            channel = next(
                (c for c in sorted(guild.channels, key=lambda c: c.position) if translate.is_subforum(c)),
                None,
            )
        place = translate.place_of(channel) if channel is not None else None
        return place.room if place is not None else None

    # -- gateway events --------------------------------------------------------------------------

    def guild_available(self, guild: discord.Guild) -> None:
        """A guild (re)appeared after an IDENTIFY: announce its sub-forums, then catch up."""
        at = self.core.clock()

        async def rooms() -> list[ChatEvent]:
            return list(translate.rooms_seen(guild, at))

        self._enqueue(rooms)
        if not self._closing and self._gate is not None:
            self._catchup.spawn(self._backfill(guild, at), name=f"guild {guild.id}")
            self._catchup.spawn(self._watch_members(guild), name=f"members of guild {guild.id}")

    def guild_renamed(self, guild: discord.Guild) -> None:
        """GUILD_UPDATE with a new name: announce the sub-forums again, with the guild's new name."""
        at = self.core.clock()

        async def rooms() -> list[ChatEvent]:
            return list(translate.rooms_seen(guild, at))

        self._enqueue(rooms)

    def channel_seen(self, channel: discord.abc.GuildChannel) -> None:
        if isinstance(channel, discord.TextChannel | discord.ForumChannel):
            at = self.core.clock()

            async def seen() -> list[ChatEvent]:
                return [translate.room_seen(channel, at)]

            self._enqueue(seen)

    def message(self, message: discord.Message) -> None:
        own = self.client.user
        if message.guild is None:
            return
        if own is not None and message.author.id == own.id:
            self._enqueue(self._own_message(message))
            return

        async def posted() -> list[ChatEvent]:
            place = await self._place(message.channel.id, message.channel)
            if place is None:
                return []
            event = translate.posted(
                message_id=message.id,
                place=place,
                actor=translate.actor_of(message.author, webhook=message.webhook_id is not None),
                content=message.content,
                message_type=message.type,
                at=message.created_at,
                reply_to=message.reference.message_id if message.reference else None,
            )
            return [event] if event is not None else []

        self._enqueue(posted)

    def _own_message(self, message: discord.Message) -> Job:
        """The bot's own posts are not forum posts, but a thread's position may move past them
        (in order, after the members' messages before them), so backfill does not re-read them."""

        async def passed() -> list[ChatEvent]:
            channel = message.channel
            if isinstance(channel, discord.Thread) and message.guild is not None:
                scope = translate.thread_scope(message.guild.id, channel.id)
                self._book.applied(message.guild.id, scope, message.id)
            return []

        return passed

    def message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is None or not self.config.message_content:
            return  # without the content intent an edit carries no text worth storing
        message = payload.message

        async def edited() -> list[ChatEvent]:
            place = await self._place(payload.channel_id, message.channel)
            if place is None:
                return []
            event = translate.edited(
                message_id=message.id,
                place=place,
                actor=translate.actor_of(message.author),
                content=message.content,
                edited_at=message.edited_at,
            )
            return [event] if event is not None else []

        self._enqueue(edited)

    def message_delete(self, guild_id: int | None, channel_id: int, message_ids: Sequence[int]) -> None:
        if guild_id is None:
            return
        for message_id in message_ids:
            self._backfilling.get(guild_id, set()).add(message_id)
        at = self.core.clock()

        async def deleted() -> list[ChatEvent]:
            place = await self._place(channel_id)
            if place is None:
                return []
            return [translate.deleted(message_id=m, place=place, at=at) for m in message_ids]

        self._enqueue(deleted)

    def reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        own = self.client.user
        if payload.guild_id is None or (own is not None and payload.user_id == own.id):
            return
        at = self.core.clock()
        guild = self.client.get_guild(payload.guild_id)
        member = payload.member or (guild.get_member(payload.user_id) if guild is not None else None)
        actor = translate.actor_of(member) if member is not None else translate.unnamed_actor(payload.user_id)

        async def reacted() -> list[ChatEvent]:
            place = await self._place(payload.channel_id)
            if place is None:
                return []
            return [
                translate.reaction(
                    added=added,
                    message_id=payload.message_id,
                    place=place,
                    actor=actor,
                    emoji=translate.emoji_key(payload.emoji),
                    at=at,
                    observation=uuid.uuid4().hex[:12],
                )
            ]

        self._enqueue(reacted)

    def reactions_cleared(
        self, guild_id: int | None, channel_id: int, message_id: int, emoji: str | None
    ) -> None:
        """A moderator removed all of a message's reactions (or all with one emoji): each like
        they carried is taken back, by asking the store whose likes those were."""
        if guild_id is None:
            return
        like_keys = self.core.ingestor.rules.like_keys
        keys = like_keys if emoji is None else {k for k in (self.core.like_key(emoji),) if k is not None}
        if not keys:
            return

        async def place() -> translate.Place | None:
            return await self._place(channel_id)

        self._enqueue(self._likes_job(place, lambda where: [likes.cleared(where, message_id, keys)], None))

    def _likes_job(
        self,
        place: Callable[[], Awaitable[translate.Place | None]],
        observed: Callable[[translate.Place], Sequence[likes.Observed]],
        done: asyncio.Future[None] | None,
    ) -> Job:
        """Make the store's likes match what was observed, after every event received before."""

        async def corrections() -> Sequence[ChatEvent]:
            where = await place()
            seen = observed(where) if where is not None else []
            if not seen:
                return []
            await self._delivered_so_far()
            ids = [s.message_id for s in seen]
            keys = {key for s in seen for key in s.reactors}
            stored = await asyncio.to_thread(likes.stored_likes, self.core.engine, ids, keys)
            observation = f"sync-{uuid.uuid4().hex[:12]}"
            return likes.differences(seen, stored, at=self.core.clock(), observation=observation)

        return self._corrections_job(corrections, done)

    def _corrections_job(
        self, corrections: Callable[[], Awaitable[Sequence[ChatEvent]]], done: asyncio.Future[None] | None
    ) -> Job:
        """Submit corrections read from the store, and wait until they are applied.

        Runs in the intake pump: what came in earlier is applied first (so the store read is
        current), and nothing that comes in later is submitted before these corrections.
        `done` (if given) resolves once the corrections are applied.
        """

        async def apply() -> list[ChatEvent]:
            try:
                submitted = [await self._submit(event) for event in await corrections()]
                if submitted:
                    await asyncio.wait(submitted)
            except Exception as error:
                if done is not None and not done.done():
                    done.set_exception(error)
                raise
            if done is not None and not done.done():
                done.set_result(None)
            return []

        return apply

    async def _forget_deleted(self, covered: deletions.Covered) -> None:
        """Posts deleted while we were away in a stretch the sweep read, through the intake pump
        like the like corrections; returns once they are applied."""
        if self._closing or self._intake is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def corrections() -> Sequence[ChatEvent]:
            await self._delivered_so_far()
            alive = await asyncio.to_thread(
                deletions.alive_posts, self.core.engine, covered.thread_id, covered.after
            )
            return deletions.vanished(covered, alive, at=self.core.clock())

        self._enqueue(self._corrections_job(corrections, done))
        await done

    async def _reconcile_likes(self, observed: Sequence[likes.Observed]) -> None:
        """The like sweep's corrections, through the intake pump; returns once they are applied."""
        if not observed or self._closing or self._intake is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def known() -> translate.Place | None:
            return observed[0].place

        self._enqueue(self._likes_job(known, lambda _where: observed, done))
        await done

    def thread_created(self, thread: discord.Thread) -> None:
        """A thread in a text channel opens a forum thread (a forum post opens with its message)."""
        if isinstance(thread.parent, discord.ForumChannel) or not translate.is_subforum(thread.parent):
            return

        async def opened() -> list[ChatEvent]:
            event = await self.opening(thread)
            return [event] if event is not None else []

        self._enqueue(opened)

    async def opening(self, thread: discord.Thread) -> MessagePosted | None:
        """The opening post of a text-channel thread: the message it was started from, if any."""
        place = translate.place_of(thread)
        if place is None or place.parent_is_forum:
            return None
        starter: discord.Message | None = thread.starter_message
        if starter is None and isinstance(thread.parent, discord.TextChannel):
            with contextlib.suppress(discord.NotFound, discord.Forbidden):
                starter = await thread.parent.fetch_message(thread.id)
        if starter is not None:
            actor = translate.actor_of(starter.author, webhook=starter.webhook_id is not None)
            text = starter.content
        else:
            owner = thread.owner
            actor = (
                translate.actor_of(owner) if owner is not None else translate.unnamed_actor(thread.owner_id)
            )
            text = ""
        own = self.client.user
        if own is not None and actor.user_id == str(own.id):
            return None
        at = thread.created_at or discord.utils.snowflake_time(thread.id)
        return translate.thread_opened(place=place, actor=actor, text=text, at=at)

    def thread_deleted(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A deleted thread takes its opening post, and so the forum thread, with it."""
        parent = self.client.get_channel(payload.parent_id)
        place = translate.Place(
            guild_id=payload.guild_id,
            channel_id=payload.thread_id,
            name="",
            parent_id=payload.parent_id,
            parent_name=getattr(parent, "name", ""),
        )
        at = self.core.clock()

        async def deleted() -> list[ChatEvent]:
            return [translate.deleted(message_id=payload.thread_id, place=place, at=at)]

        self._enqueue(deleted)

    def member_joined(self, member: discord.Member) -> None:
        room = self._default_room(member.guild)
        if room is None:
            return
        event = translate.member_joined(room=room, actor=translate.actor_of(member), at=self.core.clock())

        async def joined() -> list[ChatEvent]:
            return [event]

        self._enqueue(joined)

    def audit_entry(self, entry: discord.AuditLogEntry) -> None:
        """A timeout given or lifted by hand goes to the case log; the bot's own are logged already."""
        if entry.action is not discord.AuditLogAction.member_update or entry.target is None:
            return
        if self.client.user is not None and entry.user_id == self.client.user.id:
            return
        room = self._default_room(entry.guild)
        if room is None:
            return
        event = translate.hand_timeout(
            room=room,
            target_id=int(entry.target.id),
            actor_id=entry.user_id,
            before=getattr(entry.changes.before, "timed_out_until", None),
            after=getattr(entry.changes.after, "timed_out_until", None),
            reason=entry.reason,
            at=entry.created_at,
        )
        if event is None:
            return

        async def observed() -> list[ChatEvent]:
            return [event]

        self._enqueue(observed)

    def member_updated(self, before: discord.Member, after: discord.Member) -> None:
        """Without View Audit Log no audit entry says a moderator timed someone out by hand, but
        the member's `communication_disabled_until` changes all the same: logged without a
        moderator, unless the bot made the change itself. With the permission the audit entry
        (which names the moderator and the reason) is the record; the shared event id keeps the
        case log at one entry should both arrive."""
        if before.timed_out_until == after.timed_out_until:
            return
        guild = after.guild
        if guild.me is not None and guild.me.guild_permissions.view_audit_log:
            return
        if self._own_timeouts.pop((guild.id, after.id, _to_second(after.timed_out_until)), False):
            return
        room = self._default_room(guild)
        if room is None:
            return
        event = translate.hand_timeout(
            room=room,
            target_id=after.id,
            actor_id=None,
            before=before.timed_out_until,
            after=after.timed_out_until,
            reason=None,
            at=self.core.clock(),
        )
        if event is None:
            return

        async def observed() -> list[ChatEvent]:
            return [event]

        self._enqueue(observed)

    def _timing_out(self, guild_id: int, user_id: int, until: datetime | None) -> None:
        """Remember a timeout change the bot is about to make, so its GUILD_MEMBER_UPDATE is not
        taken for a moderator's (bounded: an update that never came is forgotten eventually).
        Discord keeps the end to the millisecond, so it is compared to the second."""
        self._own_timeouts[(guild_id, user_id, _to_second(until))] = True
        while len(self._own_timeouts) > OWN_TIMEOUTS:
            self._own_timeouts.popitem(last=False)

    def member_left(self, payload: discord.RawMemberRemoveEvent) -> None:
        guild = self.client.get_guild(payload.guild_id)
        room = self._default_room(guild) if guild is not None else None
        if room is None:
            return
        event = translate.member_left(
            room=room,
            actor=translate.actor_of(payload.user),
            at=self.core.clock(),
            observation=uuid.uuid4().hex[:12],
        )

        async def left() -> list[ChatEvent]:
            return [event]

        self._enqueue(left)

    # -- backfill --------------------------------------------------------------------------------

    async def _backfill(self, guild: discord.Guild, at: datetime) -> None:
        assert self._gate is not None
        deletes = self._backfilling.setdefault(guild.id, set())
        job = Backfill(
            client=self.client,
            book=self._book,
            load=self._load_cursors,
            submit=self._submit,
            opening=self.opening,
            is_command=self._is_command,
            is_like=lambda emoji: self.core.like_key(emoji) is not None,
            deleted=deletes.__contains__,
            limits=self.tuning.backfill,
            gate=self._gate,
            sweep=likes.LikeSweep(
                client=self.client,
                place=self._place,
                load=self._stored_likes,
                reconcile=self._reconcile_likes,
                forget=self._forget_deleted,
                like_key=self.core.like_key,
                limits=self.tuning.backfill.likes,
                gate=self._gate,
            ),
        )
        try:
            await job.run(guild, at)
        finally:
            self._backfilling.pop(guild.id, None)

    async def _watch_members(self, guild: discord.Guild) -> None:
        """Without View Audit Log, hand timeouts are seen only as member updates, which discord.py
        reports only for members it has cached (we do not chunk at start-up): ask for the member
        list of such a guild, once per IDENTIFY (alongside the catching up, not before it)."""
        me = guild.me
        if me is None or me.guild_permissions.view_audit_log or guild.chunked:
            return
        log.info(
            "guild %s: without the View Audit Log permission, timeouts given by hand are logged "
            "without the moderator's name",
            guild.id,
        )
        try:
            await guild.chunk(cache=True)
        except (discord.HTTPException, discord.ClientException, TimeoutError):
            log.warning("could not read the member list of guild %s", guild.id, exc_info=True)

    async def _stored_likes(self, message_ids: Collection[int]) -> likes.StoredLikes:
        keys = self.core.ingestor.rules.like_keys
        return await asyncio.to_thread(likes.stored_likes, self.core.engine, message_ids, keys)

    async def _load_cursors(self, guild_id: int) -> GuildCursors:
        return await asyncio.to_thread(cursors.load, self.core.engine, guild_id)

    def _is_command(self, text: str) -> bool:
        return self._registry is not None and self._registry.is_command(text)

    # -- interactions ----------------------------------------------------------------------------

    async def invoke(
        self,
        interaction: discord.Interaction,
        spec: CommandSpec,
        options: dict[str, object],
        *,
        target_message: discord.Message | None = None,
        target_user: discord.Member | discord.User | None = None,
    ) -> None:
        """A slash command or context menu, from the command tree."""
        if (target_message or target_user) is not None and spec.context_menu is not None:
            form = menu_form(spec, spec.context_menu.label, options)
            if form is not None:
                target_id = str(target_message.id) if target_message is not None else None
                about = target_message.author if target_message is not None else target_user
                author_id = str(about.id) if about is not None else None
                await interaction.response.send_modal(form_modal(form, target_id, author_id))
                return
        target = None
        if target_message is not None:
            where = await self._place(target_message.channel.id, target_message.channel)
            if where is not None:
                target = translate.message_ref(where, target_message.id)
            target_user = target_user or target_message.author  # whom a message command is about
        await self._run(
            interaction,
            spec.path,
            options,
            ephemeral=spec.ephemeral,
            target=target,
            target_user=translate.actor_of(target_user) if target_user is not None else None,
        )

    async def pressed(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A button of an `Action` (after a restart too: the custom_id says everything)."""
        decoded = translate.decode_action(custom_id)
        if decoded is None:
            return
        path, options = decoded
        asks = [name for name in options.pop(ASK_OPTION, "").split(",") if name]
        spec = self._registry.specs.get(path) if self._registry is not None else None
        presser = translate.actor_of(interaction.user, permissions=interaction.permissions)
        if asks and spec is not None and self.core.privilege_of(presser) < spec.privilege:
            # No form for someone who may not act; the same words as the dispatcher's refusal.
            await interaction.response.send_message(
                f"`{self.core.registry.prefixes[0]}{spec.name}` is for {spec.privilege.name.lower()}s.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        if asks and spec is not None:
            form = press_form(spec, button_label(interaction, custom_id) or spec.name, options, asks)
            if form is not None:
                source = str(interaction.message.id) if interaction.message is not None else None
                await interaction.response.send_modal(form_modal(form, source))
                return
        target = None
        if interaction.message is not None:
            where = await self._place(interaction.message.channel.id, interaction.message.channel)
            if where is not None:
                target = translate.message_ref(where, interaction.message.id)
        await self._run(interaction, path, dict(options), ephemeral=self._ephemeral(path), target=target)

    async def interaction(self, interaction: discord.Interaction) -> None:
        """Modal submits of `Form`s; everything else is routed by discord.py."""
        if interaction.type is not discord.InteractionType.modal_submit or not isinstance(
            interaction.data, dict
        ):
            return
        submission = translate.decode_form(str(interaction.data.get("custom_id", "")))
        if submission is None:
            return
        components = interaction.data.get("components", [])
        options: dict[str, object] = {**submission.options, **translate.form_values(components)}
        target = None
        if submission.target_message_id is not None and interaction.channel_id is not None:
            where = await self._place(interaction.channel_id, interaction.channel)
            if where is not None:
                target = translate.message_ref(where, submission.target_message_id)
        await self._run(
            interaction,
            submission.path,
            options,
            ephemeral=self._ephemeral(submission.path),
            target=target,
            target_user=await self._known_user(interaction.guild, submission.target_user_id),
        )

    async def _known_user(self, guild: discord.Guild | None, user_id: int | None) -> Actor | None:
        """A user by id as an actor, named (from the cache, else one REST call), or by id only."""
        if user_id is None:
            return None
        user: discord.Member | discord.User | None = guild.get_member(user_id) if guild else None
        if user is None and guild is not None:
            with contextlib.suppress(discord.HTTPException):
                user = await guild.fetch_member(user_id)
        return translate.actor_of(user) if user is not None else translate.unnamed_actor(user_id)

    def _ephemeral(self, path: tuple[str, ...]) -> bool:
        spec = self._registry.specs.get(path) if self._registry is not None else None
        return spec.ephemeral if spec is not None else True

    async def _run(
        self,
        interaction: discord.Interaction,
        path: tuple[str, ...],
        options: Mapping[str, object],
        *,
        ephemeral: bool,
        target: MessageRef | None = None,
        target_user: Any = None,
    ) -> None:
        if self._closing or self._sink is None:
            return
        place = None
        if interaction.channel_id is not None:
            place = await self._place(interaction.channel_id, interaction.channel)
        if place is None:
            await interaction.response.send_message(
                "chatbridge commands work in the server's channels and threads.",
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        actor = translate.actor_of(interaction.user, permissions=interaction.permissions)
        invocation = translate.invocation(
            interaction_id=interaction.id,
            at=interaction.created_at,
            place=place,
            actor=actor,
            path=path,
            options=options,
            target=target,
            target_user=target_user,
        )
        await self._desk.run(interaction, invocation, self._command, ephemeral=ephemeral)

    async def _command(self, invocation: CommandInvoked) -> None:
        if self._sink is not None:
            await self._sink(invocation)
            if self._observer is not None:
                self._observer(invocation)

    async def complete(
        self, interaction: discord.Interaction, spec: CommandSpec, param: ParamSpec, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete from the store, answered within Discord's limits (or nothing, if slow)."""
        if interaction.guild_id is None or param.autocomplete is None:
            return []
        actor = translate.actor_of(interaction.user, permissions=interaction.permissions)
        request = SuggestRequest(
            source=param.autocomplete,
            platform=self.name,
            community_platform_id=str(interaction.guild_id),
            current=current,
            options={name: value for name, value in interaction.namespace},
            include_private=self.core.privilege_of(actor) >= Privilege.MODERATOR,
        )
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(self._suggest, request), self.tuning.autocomplete_timeout
            )
        except TimeoutError:
            log.warning("autocomplete for %s.%s was too slow", spec.name, param.name)
            return []
        return [app_commands.Choice(name=s.name, value=s.value) for s in found]

    def _suggest(self, request: SuggestRequest) -> list[Suggestion]:
        with Session(reading(self.core.engine)) as session:
            return suggest(session, request)

    # -- the Platform verbs ----------------------------------------------------------------------

    def _messageable(self, channel_id: str) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(int(channel_id))

    async def send(
        self, room: Room, message: OutgoingMessage, *, thread_id: str | None = None, idempotency_key: str
    ) -> MessageRef:
        """Post in a channel or thread; Discord drops a repeat with the same nonce (the key)."""
        channel = self._messageable(thread_id or room.room_id)
        rendered = translate.render(message)
        first: discord.Message | None = None
        for index, chunk in enumerate(rendered.chunks):
            extra: dict[str, Any] = {}
            view = action_view(rendered.actions) if index == len(rendered.chunks) - 1 else None
            if view is not None:
                extra["view"] = view
            try:
                sent = await channel.send(
                    chunk,
                    allowed_mentions=rendered.allowed_mentions,
                    nonce=translate.nonce_for(f"{idempotency_key}#{index}"),
                    **extra,
                )
            except discord.Forbidden as error:
                raise PlatformError(f"I'm not allowed to post in <#{channel.id}>.") from error
            first = first or sent
        assert first is not None
        return MessageRef(self.name, room.room_id, str(first.id), thread_id, room.community_id)

    async def respond(self, invocation: CommandInvoked, message: OutgoingMessage) -> None:
        """Answer an interaction through it; a typed command with a reply (ephemeral: by DM)."""
        if await self._desk.respond(invocation, message):
            return
        channel = self._messageable(invocation.thread_id or invocation.room.room_id)
        rendered = translate.render(message)
        if message.ephemeral:
            if await self._direct(invocation.actor.user_id, rendered):
                return
            notice = OutgoingMessage(
                f"<@{invocation.actor.user_id}> I couldn't send you a private answer. Allow direct "
                "messages from server members, or use the slash command.",
                mention_user_ids=(invocation.actor.user_id,),
            )
            rendered = translate.render(notice)
        reference = None
        kind, _, message_id = invocation.event_id.partition(":")
        if kind == "message" and message_id.isdigit():
            reference = discord.MessageReference(
                message_id=int(message_id), channel_id=channel.id, fail_if_not_exists=False
            )
        for index, chunk in enumerate(rendered.chunks):
            extra: dict[str, Any] = {"reference": reference} if reference is not None and index == 0 else {}
            view = action_view(rendered.actions) if index == len(rendered.chunks) - 1 else None
            if view is not None:
                extra["view"] = view
            await channel.send(chunk, allowed_mentions=rendered.allowed_mentions, **extra)

    async def _direct(self, user_id: str, rendered: translate.Rendered) -> bool:
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
            for chunk in rendered.chunks:
                await user.send(chunk, allowed_mentions=rendered.allowed_mentions)
        except discord.HTTPException:
            return False
        return True

    async def react(self, ref: MessageRef, emoji: str) -> None:
        channel = self._messageable(ref.thread_id or ref.room_id)
        await channel.get_partial_message(int(ref.message_id)).add_reaction(emoji)

    def permalink(self, ref: MessageRef) -> str:
        """https://discord.com/channels/<guild>/<channel>/<message>, channel being where it lives.

        A thread's messages live in the thread, except the message a text-channel thread was
        started from, which lives in the parent channel.
        """
        channel_id = ref.thread_id or ref.room_id
        parent = self.client.get_channel(int(ref.room_id)) if ref.room_id.isdigit() else None
        if (
            ref.thread_id is not None
            and ref.thread_id == ref.message_id
            and isinstance(parent, discord.TextChannel)
        ):
            channel_id = ref.room_id
        guild_id = ref.community_id
        if guild_id is None:
            found = parent or self.client.get_channel(int(channel_id))
            guild = getattr(found, "guild", None)
            guild_id = str(guild.id) if guild is not None else "@me"
        return translate.permalink(guild_id, channel_id, ref.message_id)

    async def create_thread(self, room: Room, title: str, message: OutgoingMessage) -> MessageRef:
        """A forum post in a forum channel; in a text channel, a message with a thread started on it."""
        channel = self.client.get_channel(int(room.room_id))
        if channel is None:
            try:
                channel = await self.client.fetch_channel(int(room.room_id))
            except discord.HTTPException as error:
                raise PlatformError("I can't see that channel any more.") from error
        rendered = translate.render(message)
        name = translate.thread_name(title)
        chunks = list(rendered.chunks)
        try:
            if isinstance(channel, discord.ForumChannel):
                created = await channel.create_thread(
                    name=name, content=chunks[0], allowed_mentions=rendered.allowed_mentions
                )
                thread, opening = created.thread, created.message
            elif isinstance(channel, discord.TextChannel):
                opening = await channel.send(chunks[0], allowed_mentions=rendered.allowed_mentions)
                thread = await opening.create_thread(name=name)
            else:
                raise PlatformError("Threads can be started in text channels and forums only.")
            for chunk in chunks[1:]:
                await thread.send(chunk, allowed_mentions=rendered.allowed_mentions)
        except discord.Forbidden as error:
            raise PlatformError(
                f"I can't start threads in <#{room.room_id}>: I need the Send Messages and "
                "Create Public Threads permissions there."
            ) from error
        return MessageRef(self.name, room.room_id, str(opening.id), str(thread.id), room.community_id)

    async def apply_mute(self, community_id: str, user_id: str, until: datetime, reason: str) -> MuteResult:
        """A timeout, reaching at most 28 days ahead (Discord's cap).

        `applied_until` is how far it reaches; for a longer mute the caller renews it (calls this
        again) before then. `previous_state` holds the timeout it replaced, for `lift_mute`.
        """
        member = await self._member(community_id, user_id)
        now = self.core.clock()
        applied = translate.timeout_until(until, now)
        if applied <= now:
            raise PlatformError("That mute has already ended.")
        before = member.timed_out_until
        self._timing_out(member.guild.id, member.id, applied)
        try:
            await member.edit(timed_out_until=applied, reason=reason[:512] or None)
        except discord.Forbidden as error:
            raise PlatformError(translate.timeout_refused(member.display_name)) from error
        except discord.HTTPException as error:
            raise PlatformError(f"Discord refused to time out {member.display_name}: {error.text}") from error
        previous = before.isoformat() if before is not None and before > now else None
        return MuteResult(applied, {"communication_disabled_until": previous})

    async def lift_mute(self, community_id: str, user_id: str, previous_state: Mapping[str, object]) -> None:
        """Clear the timeout, or put back one that was there before the mute and is still running."""
        try:
            member = await self._member(community_id, user_id)
        except PlatformError:
            return  # gone from the server: nothing to lift
        now = self.core.clock()
        restore: datetime | None = None
        previous = previous_state.get("communication_disabled_until")
        if isinstance(previous, str):
            with contextlib.suppress(ValueError):
                restore = datetime.fromisoformat(previous)
        if restore is not None and restore <= now:
            restore = None
        self._timing_out(member.guild.id, member.id, restore)
        try:
            await member.edit(timed_out_until=restore)
        except discord.Forbidden as error:
            raise PlatformError(translate.timeout_refused(member.display_name, lifting=True)) from error

    async def edit_message(self, ref: MessageRef, message: OutgoingMessage) -> None:
        """Rewrite one of the bot's messages; its buttons become the message's `actions` (or none)."""
        rendered = translate.render(message)
        content = rendered.chunks[0] if len(rendered.chunks) == 1 else "\n".join(rendered.chunks)
        partial = self._messageable(ref.thread_id or ref.room_id).get_partial_message(int(ref.message_id))
        try:
            await partial.edit(
                content=content[: translate.MAX_CONTENT],
                allowed_mentions=rendered.allowed_mentions,
                view=action_view(rendered.actions),
            )
        except discord.NotFound as error:
            raise PlatformError("That message is gone, so I can't update it.") from error
        except discord.Forbidden as error:
            raise PlatformError("I can only edit my own messages.") from error

    async def delete_message(self, ref: MessageRef, reason: str) -> None:
        """Remove a message for moderation; a message already gone counts as removed."""
        channel_id = int(ref.thread_id or ref.room_id)
        try:
            await self.client.http.delete_message(
                channel_id, int(ref.message_id), reason=reason[:512] or None
            )
        except discord.NotFound:
            return
        except discord.Forbidden as error:
            raise PlatformError(
                f"I can't delete messages in <#{channel_id}>: I need the Manage Messages permission there."
            ) from error

    async def send_dm(
        self, community_id: str, user_id: str, message: OutgoingMessage, *, idempotency_key: str
    ) -> MessageRef:
        """Write to a member privately; closed DMs are a refusal (PlatformError), not worth retrying."""
        rendered = translate.render(message)
        try:
            user = self.client.get_user(int(user_id)) or await self.client.fetch_user(int(user_id))
            channel = user.dm_channel or await user.create_dm()
            first: discord.Message | None = None
            for index, chunk in enumerate(rendered.chunks):
                sent = await channel.send(
                    chunk,
                    allowed_mentions=rendered.allowed_mentions,
                    nonce=translate.nonce_for(f"{idempotency_key}#{index}"),
                )
                first = first or sent
        except discord.NotFound as error:
            raise PlatformError("That member's Discord account no longer exists.") from error
        except discord.Forbidden as error:
            raise PlatformError("They don't accept direct messages from this server's members.") from error
        assert first is not None
        return MessageRef(self.name, str(channel.id), str(first.id), None, community_id)

    async def member_privilege(self, community_id: str, user_id: str) -> Privilege:
        """The member's privilege from their current roles; MEMBER if they are not in the guild."""
        try:
            member = await self._member(community_id, user_id)
        except PlatformError:
            return Privilege.MEMBER
        return translate.actor_of(member).privilege

    async def _member(self, community_id: str, user_id: str) -> discord.Member:
        guild = self.client.get_guild(int(community_id))
        if guild is None:
            raise PlatformError("I'm not in that server any more.")
        try:
            member = await guild.fetch_member(int(user_id))
        except discord.NotFound as error:
            raise PlatformError(f"That member is no longer in {guild.name}.") from error
        return member


def _to_second(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment is not None else None
