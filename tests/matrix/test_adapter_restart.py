"""Stopping and starting the bot loses nothing and counts nothing twice.

The members keep talking while the bot is down: more events than one sync timeline holds (so the
adapter must fill the gap from /messages), likes given and taken back, a message deleted, an
edit, a new thread in another room. After the restart every count matches what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import AsyncClient
from sqlmodel import col, select

from chatbridge.adapters.matrix import MatrixOptions
from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import PlatformCursor, Post, Thread
from support.matrix_forum import MatrixBot, Member, create_community, register_bot

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]

SMALL_TIMELINE = MatrixOptions(poll_timeout_ms=10_000, timeline_limit=5, gap_page_size=4)
"""A sync shows at most 5 events per room, and /messages pages hold 4: the gap needs several."""


async def test_what_happens_while_the_bot_is_down_is_counted_once(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    account = await register_bot(homeserver)
    community = await create_community(await make_member("dana"), account.user_id)
    general, clinical = community.room("General Discussion"), community.room("Clinical Questions")
    alice, bob, carol = [Member(await make_member(name)) for name in ("alice", "bob", "carol")]
    for member in (alice, bob, carol):
        for room_id in (community.space_id, general, clinical):
            await member.join(room_id)
    bot = MatrixBot(homeserver, account, tmp_path, community, options=SMALL_TIMELINE)

    # before the bot's very first start: history it must not replay (matrix.backfill_hours = 0)
    old = await alice.say(general, "Old question from before the bot")
    await bob.say(general, "Old answer", thread=old)

    async with bot.running():
        root = await alice.say(general, "Handover at 7?")
        sbar = await bob.say(general, "SBAR, always.", thread=root)
        await bot.caught_up(sbar)
        assert bot.thread_row(root).reply_count == 1

    # --- the bot is down ---
    tips = [await carol.say(general, f"Tip {n}: write it down.", thread=root) for n in range(1, 8)]
    await alice.react(general, sbar, "👍")
    heart = await carol.react(general, root, "❤️")
    await carol.redact(general, heart)  # liked and unliked while the bot was away
    oops = await carol.say(general, "Oops, wrong thread", thread=root)
    await carol.redact(general, oops)
    rash = await bob.say(clinical, "Anyone seen this rash after the new antibiotic?")
    photo = await alice.say(clinical, "A photo would help (no faces).", thread=rash)
    await alice.edit(general, root, "Handover at 7? (ward 3)")
    last = await bob.react(clinical, photo, "❤️")

    async with bot.running():
        await bot.caught_up(last)
        assert_counts(bot, root, rash, tips)

    # again with nothing new, and once more after forgetting the sync position entirely: the
    # adapter replays everything since its first start, and nothing is counted twice
    async with bot.running():
        assert_counts(bot, root, rash, tips)
    with bot.store() as session:
        sync_position = select(PlatformCursor).where(col(PlatformCursor.scope).startswith("sync:"))
        session.delete(session.exec(sync_position).one())
        session.commit()
    async with bot.running():
        await bot.caught_up(last)
        assert_counts(bot, root, rash, tips)
        with bot.store() as session:
            assert session.exec(select(Thread).where(Thread.platform_thread_id == old)).first() is None


def assert_counts(bot: MatrixBot, root: str, rash: str, tips: list[str]) -> None:
    """The ground truth of the conversation above."""
    handover, rash_thread = bot.thread_row(root), bot.thread_row(rash)
    assert (handover.reply_count, handover.like_count, handover.participant_count) == (8, 1, 3)
    assert (rash_thread.reply_count, rash_thread.like_count) == (1, 1)
    with bot.store() as session:
        opening = session.exec(select(Post).where(Post.platform_message_id == root)).one()
        assert opening.body == "Handover at 7? (ward 3)"
        counted = session.exec(select(Post.platform_message_id).where(col(Post.counted))).all()
        assert set(tips) <= set(counted)
    alice, bob, carol = (bot.member_row(m) for m in _user_ids(bot))
    # (messages, threads started, likes received, likes given)
    assert (alice.message_count, alice.threads_started, alice.likes_received, alice.likes_given) == (
        2,
        1,
        1,
        1,
    )
    assert (bob.message_count, bob.threads_started, bob.likes_received, bob.likes_given) == (2, 1, 1, 1)
    assert (carol.message_count, carol.threads_started, carol.likes_received, carol.likes_given) == (
        7,
        0,
        0,
        0,
    )


def _user_ids(bot: MatrixBot) -> list[str]:
    from chatbridge.store.tables import Identity

    with bot.store() as session:
        names = {i.display_name: i.platform_user_id for i in session.exec(select(Identity)).all()}
    return [names["alice"], names["bob"], names["carol"]]
