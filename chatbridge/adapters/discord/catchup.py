"""Catching up after an IDENTIFY: the backfill and the like sweep, wired to the intake pump.

`backfill` and `likes` do the reading; this part gives them the platform's cursors, store reads and
a way to submit their corrections in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import datetime

import discord

from chatbridge.adapters.discord import cursors, deletions, likes, member_lists, translate
from chatbridge.adapters.discord.backfill import Backfill
from chatbridge.adapters.discord.cursors import GuildCursors
from chatbridge.adapters.discord.intake import Intake
from chatbridge.adapters.discord.places import Places
from chatbridge.model import ChatEvent

log = logging.getLogger(__name__)

MEMBER_LIST_ATTEMPTS = 3
"""Requests for a guild's member list per IDENTIFY: the first, and again after each RATE_LIMITED
(when its retry_after has passed) up to this many in all."""


class CatchUp(Intake, Places):
    """Starting the backfill of a guild, and what it needs from the platform."""

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
        list of such a guild, once per IDENTIFY (alongside the catching up, not before it), no
        sooner than Discord's 30 seconds after the last time, and without waiting forever."""
        if not self._needs_member_list(guild):
            return
        log.info(
            "guild %s: without the View Audit Log permission, timeouts given by hand are logged "
            "without the moderator's name",
            guild.id,
        )
        for attempt in range(1, MEMBER_LIST_ATTEMPTS + 1):
            delay = self._member_lists.delay(guild.id)
            if delay > 0:
                await asyncio.sleep(delay)
                fresh = self.client.get_guild(guild.id)  # a new IDENTIFY meanwhile makes a new object
                if fresh is None or not self._needs_member_list(fresh):
                    return
                guild = fresh
            try:
                outcome = await self._member_lists.ask(guild.id, guild.chunk(cache=True))
            except (discord.HTTPException, discord.ClientException):
                log.warning("could not read the member list of guild %s", guild.id, exc_info=True)
                return
            if outcome is not member_lists.Outcome.RATE_LIMITED or attempt == MEMBER_LIST_ATTEMPTS:
                break
            member_lists.forget_refused_request(self.client, guild.id)
            log.info(
                "guild %s: the member list was refused as rate limited; asking again in %.1f s",
                guild.id,
                self._member_lists.delay(guild.id),
            )
        if outcome is not member_lists.Outcome.RECEIVED:
            log.warning(
                "guild %s: the member list was not received (%s); timeouts given by hand to members "
                "not yet seen are noticed after the next reconnect",
                guild.id,
                outcome.value,
            )

    @staticmethod
    def _needs_member_list(guild: discord.Guild) -> bool:
        me = guild.me
        return me is not None and not me.guild_permissions.view_audit_log and not guild.chunked

    async def _stored_likes(self, message_ids: Collection[int]) -> likes.StoredLikes:
        keys = translate.with_super_reactions(self.core.ingestor.rules.like_keys)
        return await asyncio.to_thread(likes.stored_likes, self.core.engine, message_ids, keys)

    async def _load_cursors(self, guild_id: int) -> GuildCursors:
        return await asyncio.to_thread(cursors.load, self.core.engine, guild_id)

    def _is_command(self, text: str) -> bool:
        return self._registry is not None and self._registry.is_command(text)

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
