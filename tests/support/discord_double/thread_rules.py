"""Threads on Discord's terms: name length, archived and locked threads.

- developers/resources/channel.mdx (Start Thread*, Modify Channel): a thread's name is 1-100
  characters.
- developers/resources/channel.mdx ("Threads"): "Archived threads are generally immutable. To
  send a message or add a reaction, a thread must first be unarchived. The API will helpfully
  automatically unarchive a thread when sending a message in that thread." Editing a message or
  reacting in an archived thread is 400 50083 (developers/topics/opcodes-and-status-codes.mdx).
- developers/topics/threads.mdx ("Locked Threads"): without MANAGE_THREADS nobody creates or
  updates messages in a locked thread (160005 Thread is locked), and "when a thread is locked,
  only users with MANAGE_THREADS can unarchive it" (channel.mdx, thread metadata).
"""

from __future__ import annotations

from typing import Any

from . import events, payloads
from .form_errors import check_length
from .permissions import Permission
from .rest_app import ApiError
from .rest_common import Dispatcher
from .state import World


def check_thread_name(name: Any, *, field: str = "name") -> None:
    check_length((field,), name, 1, 100)


def _thread(world: World, channel_id: int) -> dict[str, Any] | None:
    guild = world.guild_of(channel_id)
    return guild.threads.get(channel_id) if guild is not None else None


def _may_manage_threads(world: World, channel_id: int) -> bool:
    guild = world.guild_of(channel_id)
    return guild is not None and bool(guild.bot_permissions_in(channel_id) & Permission.MANAGE_THREADS)


def check_unchanged_thread(world: World, channel_id: int, *, reacting: bool = False) -> None:
    """Edits and reactions: refused in an archived thread; edits also in a locked one without
    MANAGE_THREADS (threads.mdx: reactions stay allowed in a locked thread that is active)."""
    thread = _thread(world, channel_id)
    if thread is None:
        return
    metadata = thread["thread_metadata"]
    if metadata["archived"]:
        raise ApiError(400, 50083, "Thread is archived")
    if not reacting and metadata.get("locked") and not _may_manage_threads(world, channel_id):
        raise ApiError(403, 160005, "Thread is locked")


async def prepare_send(world: World, channel_id: int, dispatch: Dispatcher) -> None:
    """A send unarchives an archived thread, unless it is locked and the bot may not manage it."""
    thread = _thread(world, channel_id)
    if thread is None:
        return
    metadata = thread["thread_metadata"]
    if metadata.get("locked") and not _may_manage_threads(world, channel_id):
        if metadata["archived"]:
            raise ApiError(400, 50083, "Thread is archived")
        raise ApiError(403, 160005, "Thread is locked")
    if metadata["archived"]:
        metadata["archived"] = False
        metadata["archive_timestamp"] = payloads.iso(payloads.now())
        guild = world.guild_of(channel_id)
        assert guild is not None
        await dispatch("THREAD_UPDATE", events.channel_event(guild.thread_payload(channel_id)))


def check_thread_edit(world: World, channel_id: int, body: dict[str, Any]) -> None:
    """channel.mdx (thread metadata): "when a thread is locked, only users with MANAGE_THREADS
    can unarchive it"; unarchiving an unlocked one needs only SEND_MESSAGES (Modify Channel)."""
    thread = _thread(world, channel_id)
    if thread is None or body.get("archived") is not False:
        return
    metadata = thread["thread_metadata"]
    locked = body.get("locked", metadata.get("locked"))
    if metadata["archived"] and locked and not _may_manage_threads(world, channel_id):
        raise ApiError(403, 50013, "Missing Permissions")
