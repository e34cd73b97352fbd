"""Posts deleted while the bot is away stop counting after a restart, where the like sweep looked.

Discord replays no MESSAGE_DELETE after an IDENTIFY and has no "deleted since" query; the like
sweep's listing of each recent thread shows which stored posts are no longer there.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chatbridge.model import CursorMoved, MessageDeleted, MessagePosted
from support.discord_double import Community, DiscordDouble
from support.discord_forum import TEST_TUNING, DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url


async def caught_up(forum: DiscordForum) -> None:
    """The guild's catch-up (thread backfill, then the like sweep) is applied."""
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))
    await forum.settle()


def deleted_ids(forum: DiscordForum) -> set[str]:
    return {e.message_id for e in forum.applied.events if isinstance(e, MessageDeleted)}


async def test_replies_and_opening_posts_deleted_while_away_stop_counting_once(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    dana = double.world.add_user("dana")
    community.guild.add_member(dana)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        syncope = await forum_post(forum, community.forum, community.alice, "Syncope work-up")
        qt = await reply(forum, syncope, community.bob, "Check the QT interval.")
        agree = await reply(forum, syncope, dana, "Agree.")
        echo = await reply(forum, syncope, community.bob, "And an echo.")
        await double.add_reaction(syncope, qt, "👍", community.alice)

        starter = await double.post_message(community.general, dana, "Interesting ECG")
        ecg = await double.create_thread(
            community.general, dana, "ECG discussion", from_message=int(starter["id"])
        )
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == str(ecg))
        wellens = await reply(forum, ecg, community.bob, "Looks like Wellens.")

        rota = await forum_post(forum, community.forum, dana, "Night rota swap")
        await reply(forum, rota, community.alice, "I can take Friday.")
        await forum.settle()
        assert forum.member(community.bob).message_count == 3
        assert forum.member(community.bob).likes_received == 1

    # The bot is down. Bob deletes his QT answer (alice's like goes with it); the message the ECG
    # thread was started from is deleted in #general; dana deletes her rota post's first message.
    await double.delete_message(syncope, qt, dispatch=False)
    await double.delete_message(community.general, ecg, dispatch=False)
    await double.delete_message(rota, rota, dispatch=False)

    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        assert deleted_ids(forum) == {str(qt), str(ecg), str(rota)}
        assert forum.post(qt).deleted_at is not None
        assert [forum.post(m).deleted_at for m in (syncope, agree, echo)] == [None, None, None]
        assert forum.thread(syncope).reply_count == 2
        # As with a live deletion, a thread whose opening post is deleted is removed, replies too.
        assert forum.thread(ecg).removed and forum.thread(rota).removed
        assert forum.post(wellens).deleted_at is not None
        assert forum.member(community.bob).message_count == 1  # only the echo answer is left
        assert forum.member(community.bob).likes_received == 0
        assert forum.member(community.alice).likes_given == 0
        assert forum.member(dana).message_count == 1  # her "Agree." stays
        assert forum.member(community.alice).message_count == 1  # the syncope post; her rota reply went

    async with discord_forum(double, url, announce_trophies=False) as forum:  # a further restart
        await caught_up(forum)
        assert deleted_ids(forum) == set()
        assert forum.thread(syncope).reply_count == 2
        assert forum.member(community.bob).message_count == 1


async def test_a_thread_started_without_a_message_is_not_taken_for_deleted(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Its opening post has no message to fetch in the parent channel (404), and no
    THREAD_STARTER_MESSAGE in the thread says one was ever there."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        shifts = await double.create_thread(community.general, community.alice, "Shift swaps")
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == str(shifts))
        await reply(forum, shifts, community.bob, "Anyone for Sunday?")
        await forum.settle()

    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        assert double.calls("GET", f"/channels/{community.general}/messages/{shifts}")[0].status == 404
        assert deleted_ids(forum) == set()
        assert not forum.thread(shifts).removed
        assert forum.thread(shifts).reply_count == 1


async def test_a_deletion_outside_the_swept_window_or_past_its_budget_stays_counted(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """The documented limit: a thread quiet for longer than the sweep's window (a week) is not
    read after a restart, and a busy thread only as far back as the budget, so a post deleted
    there while the bot was away keeps counting."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    sweep = dataclasses.replace(TEST_TUNING.backfill.likes, like_messages=2)
    tuning = dataclasses.replace(TEST_TUNING, backfill=dataclasses.replace(TEST_TUNING.backfill, likes=sweep))
    month_ago = datetime.now(UTC) - timedelta(days=30)
    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        old = await forum_post(forum, community.forum, community.alice, "Old question", at=month_ago)
        answer = await double.post_message(old, community.bob, "Old answer", at=month_ago)
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == answer["id"])
        busy = await forum_post(forum, community.forum, community.alice, "Busy thread")
        answers = [await reply(forum, busy, community.bob, f"answer {n}") for n in range(4)]
        await forum.settle()
    await double.delete_message(old, int(answer["id"]), dispatch=False)
    await double.delete_message(busy, answers[0], dispatch=False)  # past the two newest
    await double.delete_message(busy, answers[3], dispatch=False)  # the newest: read, so gone

    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        assert deleted_ids(forum) == {str(answers[3])}
        assert forum.post(answer["id"]).deleted_at is None
        assert forum.thread(old).reply_count == 1
        assert double.calls("GET", f"/channels/{old}/messages") == []
        assert forum.post(answers[0]).deleted_at is None
        assert forum.thread(busy).reply_count == 3
        assert forum.member(community.bob).message_count == 4
