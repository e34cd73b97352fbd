"""Whether an earlier try of a send already posted, once Discord's nonce no longer says so.

Create Message with `enforce_nonce` returns the first message for a repeated nonce only "in the
past few minutes" (discord-api-docs developers/resources/message.mdx, Create Message). The
nonce "will appear in the Message Create event" (same file) but is not kept with the message
(discord.py's `Message.nonce`: "not stored long term within Discord's servers"), so history read
later does not carry it. A retry whose earlier try may be older than `NONCE_TRUSTED` therefore
reads the channel's messages by the bot since then and takes as already posted:

* a message whose nonce is the chunk's (Discord may still show it), or that the gateway's
  MESSAGE_CREATE showed with that nonce (`remember_nonce`, kept in memory, bounded);
* failing that (after a restart the memory is gone), a message by the bot with exactly the
  chunk's text that no remembered nonce ties to another send, and that the outbox does not
  record as another action's post (`recorded_posts`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import discord
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from chatbridge.adapters.discord import translate
from chatbridge.model import PlatformName
from chatbridge.platform import unsure_for
from chatbridge.store.engine import reading
from chatbridge.store.tables import OutboxItem

NONCE_TRUSTED = timedelta(seconds=60)
"""How long after a try its nonce is trusted to stop a repeat ("a few minutes": one, to be safe)."""
LOOK_BACK_MARGIN = timedelta(minutes=1)
"""Read history from this much before the earliest moment the earlier try can have posted."""
HISTORY_LIMIT = 500
NONCES_KEPT = 4096


def chunk_nonce(key: str, index: int) -> str:
    """The nonce of chunk `index` of the send whose idempotency key is `key`."""
    return translate.nonce_for(f"{key}#{index}")


def remember_nonce(book: OrderedDict[int, str], message_id: int, nonce: str) -> None:
    """Note the nonce a MESSAGE_CREATE of the bot's own carried (the newest `NONCES_KEPT`)."""
    book[message_id] = nonce
    book.move_to_end(message_id)
    while len(book) > NONCES_KEPT:
        book.popitem(last=False)


def recorded_posts(engine: Engine, since: datetime) -> set[int]:
    """Discord messages the outbox recorded as posted by actions done since `since` (blocking)."""
    with Session(reading(engine)) as session:
        results = session.exec(
            select(OutboxItem.result).where(
                OutboxItem.platform == PlatformName.DISCORD.value, col(OutboxItem.done_at) >= since
            )
        ).all()
    return {
        int(result["message_id"])
        for result in results
        if isinstance(result, dict) and str(result.get("message_id", "")).isdigit()
    }


async def posted_before(
    channel: discord.abc.Messageable,
    bot_id: int,
    key: str,
    chunks: Sequence[str],
    book: OrderedDict[int, str],
    engine: Engine,
) -> dict[int, discord.Message]:
    """The chunks of this send that an earlier try already posted, by index (see the module doc).

    Empty when no earlier try can have posted, or when it is recent enough for the nonce to hold.
    """
    unsure = unsure_for(key)
    if unsure is None or unsure < NONCE_TRUSTED:
        return {}
    others = await asyncio.to_thread(recorded_posts, engine, datetime.now(UTC) - unsure - LOOK_BACK_MARGIN)
    wanted = {chunk_nonce(key, index): index for index in range(len(chunks))}
    since = discord.utils.utcnow() - unsure - LOOK_BACK_MARGIN
    found: dict[int, discord.Message] = {}
    same_text: dict[int, discord.Message] = {}
    async for message in channel.history(after=since, limit=HISTORY_LIMIT, oldest_first=True):
        if message.author.id != bot_id or message.id in others:
            continue
        nonce = str(message.nonce) if message.nonce is not None else book.get(message.id)
        if nonce is not None:
            index = wanted.get(nonce)
            if index is not None:
                found.setdefault(index, message)
            continue  # a nonce of another send: not this one's, whatever its text
        for index, chunk in enumerate(chunks):
            if message.content == chunk and index not in same_text:
                same_text[index] = message
                break
    return {**same_text, **found}
