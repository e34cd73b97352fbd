"""Dropped connections, re-identifies, restarts and several processes: nothing counted twice or lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from chatbridge.adapters.discord import translate
from chatbridge.model import ChatEvent, CursorMoved, MessagePosted, ReactionAdded
from chatbridge.store.tables import PlatformCursor, Thread
from support.discord_double import Community, DiscordDouble
from support.discord_forum import DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url


def in_thread(thread_id: int) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, MessagePosted) and e.thread_id == str(thread_id)


def message(message_id: str) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, MessagePosted) and e.message_id == message_id


async def caught_up(forum: DiscordForum, count: int = 1) -> None:
    await forum.applied.wait(
        lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"), count=count
    )


async def test_a_dropped_connection_resumes_and_the_replay_counts_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete"
        )
        answer = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        resumed = forum.platform.client.wait_for("resumed")
        async with double.holding_reconnects():
            await double.drop_connection()
            missed = await double.post_message(thread_id, community.bob, "Sent while the socket was down.")
            await double.add_reaction(thread_id, answer, "👍", community.alice)
        record = await double.wait_resumed()
        await resumed
        assert record.replayed == ("MESSAGE_CREATE", "MESSAGE_REACTION_ADD")
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == missed["id"])
        await forum.applied.wait(lambda e: isinstance(e, ReactionAdded))
        await reply(forum, thread_id, community.bob, "And after.")
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 3
        assert forum.post(answer).like_count == 1
        assert len(double.identifies) == 1  # resumed: no re-identify, so no backfill either
        assert double.calls("GET", f"/channels/{thread_id}/messages") == []


async def test_a_forced_re_identify_backfills_what_was_posted_and_liked_meanwhile(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await caught_up(forum)
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete"
        )
        before = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        await forum.settle()  # the thread's position is stored

        # Discord loses our session; meanwhile members keep talking (not delivered to us).
        away = await double.post_message(thread_id, community.bob, "Echo was normal.", dispatch=False)
        await double.add_reaction(thread_id, int(away["id"]), "👍", community.alice, dispatch=False)
        await double.add_reaction(thread_id, before, "❤️", community.alice, dispatch=False)
        typed = await double.post_message(thread_id, community.alice, "!thread show here", dispatch=False)
        new_post, _ = await double.create_forum_post(
            community.forum, community.bob, "Statins at 80", "Primary prevention?", dispatch=False
        )
        await double.post_message(new_post, community.alice, "Only with high risk.", dispatch=False)
        await double.invalidate_session(resumable=False)
        await double.wait_identified(count=2)
        await caught_up(forum, count=2)
        await forum.settle()

        thread = forum.thread(thread_id)
        assert thread.reply_count == 2
        assert forum.post(away["id"]).like_count == 1
        assert forum.member(community.bob).likes_received == 2  # the ❤️ on an older message: the like sweep
        assert forum.thread(new_post).title == "Statins at 80" and forum.thread(new_post).reply_count == 1
        history = [c for c in double.calls("GET", f"/channels/{thread_id}/messages") if "after" in c.query]
        (read,) = history  # one page, from the stored position (past our own notices after `before`)
        assert int(read.query["after"]) >= before and int(read.query["after"]) < int(away["id"])
        answers = [
            call
            for call in double.calls("POST", f"/channels/{thread_id}/messages")
            if str((call.json.get("message_reference") or {}).get("message_id")) == typed["id"]
        ]
        assert answers == []  # a command typed while we were away is not run hours later
        with forum.store() as session:
            position = session.get(
                PlatformCursor, ("discord", translate.thread_scope(community.guild_id, thread_id))
            )
            assert position is not None and int(position.value) > before


async def test_a_restart_catches_up_from_the_stored_positions(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete"
        )
        await reply(forum, thread_id, community.bob, "Check the QT interval.")

    offline = [
        await double.post_message(thread_id, author, text, dispatch=False)
        for author, text in ((community.bob, "Echo normal."), (community.alice, "Thanks both."))
    ]
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 3
        assert forum.post(offline[-1]["id"]).body == "Thanks both."

    async with discord_forum(double, url) as forum:  # and a third start reads nothing again
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 3
    caught_up_reads = [
        c for c in double.calls("GET", f"/channels/{thread_id}/messages") if "after" in c.query
    ]
    assert len(caught_up_reads) == 1  # the other reads are the like sweep's (`before` the position)


async def test_backfill_is_bounded_per_thread(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    import dataclasses

    from support.discord_forum import TEST_TUNING

    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    tuning = dataclasses.replace(
        TEST_TUNING, backfill=dataclasses.replace(TEST_TUNING.backfill, max_messages=3)
    )
    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        thread_id = await forum_post(forum, community.forum, community.alice, "Busy thread", "Go")
    for n in range(5):
        await double.post_message(thread_id, community.bob, f"offline {n}", dispatch=False)
    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 3


async def test_two_processes_on_distinct_shards_share_one_store(
    discord_py_on_double: DiscordDouble, tmp_path: Path
) -> None:
    double = discord_py_on_double
    world = double.world
    alice, bob = world.add_user("alice"), world.add_user("bob")
    forums = []
    for shard in (0, 1):
        guild = world.add_guild(f"Shard {shard}", guild_id=double.snowflakes.for_shard(shard, 2))
        guild.add_member(alice)
        guild.add_member(bob)
        forums.append((guild.id, guild.add_forum_channel("questions")))
    url = sqlite_url(tmp_path)
    async with (
        discord_forum(double, url, shard_count=2, shard_ids=(0,)) as first,
        discord_forum(double, url, shard_count=2, shard_ids=(1,)) as second,
    ):
        assert sorted(tuple(r.payload["shard"]) for r in double.identifies) == [(0, 2), (1, 2)]
        for (guild_id, forum_id), process in zip(forums, (first, second), strict=True):
            assert [g.id for g in process.platform.client.guilds] == [guild_id]
            thread_id, _ = await double.create_forum_post(forum_id, alice, f"Post in {guild_id}", "Hello")
            await process.applied.wait(in_thread(thread_id))
            answer = await double.post_message(thread_id, bob, "Welcome!")
            await process.applied.wait(message(answer["id"]))
            await double.add_reaction(thread_id, int(answer["id"]), "👍", alice)
            await process.applied.wait(lambda e: isinstance(e, ReactionAdded))
        await first.settle()
        await second.settle()
        with first.store() as session:
            threads = session.exec(select(Thread).order_by(col(Thread.id))).all()
        assert [(t.reply_count, t.like_count) for t in threads] == [(1, 1), (1, 1)]
        assert len(double.calls("PUT", "/applications/{application_id}/commands")) == 1  # shard 0 publishes


async def test_two_processes_receiving_the_same_events_count_them_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A rolling deploy overlaps two processes on one guild: the store's unique keys deduplicate."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as first, discord_forum(double, url) as second:
        thread_id, _ = await double.create_forum_post(community.forum, community.alice, "Syncope", "Athlete")
        answer = await double.post_message(thread_id, community.bob, "Check the QT interval.")
        for process in (first, second):
            await process.applied.wait(
                lambda e: isinstance(e, MessagePosted) and e.message_id == answer["id"]
            )
        await double.add_reaction(thread_id, int(answer["id"]), "👍", community.alice)
        for process in (first, second):
            await process.applied.wait(lambda e: isinstance(e, ReactionAdded))
        await first.settle()
        await second.settle()
        thread = first.thread(thread_id)
        assert (thread.reply_count, thread.like_count) == (1, 1)
        assert first.member(community.bob).message_count == 1
        assert first.member(community.alice).threads_started == 1


async def threads_archived_while_away(
    double: DiscordDouble, url: str, community: Community
) -> tuple[int, int]:
    """A public and a private thread, each with a reply; then, while the bot is down, both get
    another reply and go quiet, and Discord archives them."""
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        public = await double.create_thread(community.general, community.alice, "Journal club")
        private = await double.create_thread(community.general, community.alice, "Rota swaps", private=True)
        for thread_id in (public, private):
            await reply(forum, thread_id, community.bob, "First!")
    for thread_id in (public, private):
        await double.post_message(thread_id, community.bob, "Said while away.", dispatch=False)
        await double.archive_thread(thread_id, dispatch=False)
    return public, private


async def test_threads_archived_while_away_are_read_back_private_ones_too(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    public, private = await threads_archived_while_away(double, url, community)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        await forum.settle()
        assert [forum.thread(t).reply_count for t in (public, private)] == [2, 2]
    assert double.calls("GET", f"/channels/{community.general}/threads/archived/private")


async def test_without_manage_threads_private_archived_threads_are_skipped_with_a_note(
    discord_py_on_double: DiscordDouble,
    community: Community,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    public, private = await threads_archived_while_away(double, url, community)
    double.deny_permission("GET", "/channels/{channel_id}/threads/archived/private", times=None)
    with caplog.at_level(logging.INFO, logger="chatbridge.adapters.discord.backfill"):
        async with discord_forum(double, url, announce_trophies=False) as forum:
            await caught_up(forum)
            await forum.settle()
            assert [forum.thread(t).reply_count for t in (public, private)] == [2, 1]
    assert any("Manage Threads" in r.getMessage() for r in caplog.records)


async def test_a_staff_room_the_bot_can_read_is_caught_up_too_and_one_it_cannot_is_not_asked(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    view = 1 << 10
    staff = community.guild.add_text_channel("staff-room")
    hidden = community.guild.add_text_channel("board-room")
    double.world.raw_channel(staff)["permission_overwrites"] = [
        {"id": str(community.guild_id), "type": 0, "allow": "0", "deny": str(view)},
        {"id": str(community.guild.bot_role_id), "type": 0, "allow": str(view), "deny": "0"},
    ]
    double.world.raw_channel(hidden)["permission_overwrites"] = [
        {"id": str(community.guild_id), "type": 0, "allow": "0", "deny": str(view)},
    ]
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        thread_id = await double.create_thread(staff, community.bob, "Rota")
        await reply(forum, thread_id, community.bob, "Who covers Friday?")

    await double.post_message(thread_id, community.bob, "Sorted, thanks.", dispatch=False)
    await double.archive_thread(thread_id, dispatch=False)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 2
    assert double.calls("GET", f"/channels/{staff}/threads/archived/public")
    assert double.calls("GET", f"/channels/{hidden}/threads/archived/public") == []
