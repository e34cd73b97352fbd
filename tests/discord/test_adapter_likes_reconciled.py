"""Likes that change without one gateway event per reaction: while the bot is away (found by the
like sweep after a restart) and when a moderator clears reactions in bulk."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from chatbridge.model import (
    ChatEvent,
    CursorMoved,
    MessageDeleted,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from chatbridge.store.tables import TrophyAward
from support.discord_double import Community, DiscordDouble
from support.discord_forum import TEST_TUNING, DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url

REACTION_USERS = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"


async def caught_up(forum: DiscordForum) -> None:
    """The guild's catch-up (thread backfill, then the like sweep) is applied."""
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))
    await forum.settle()


def reactions(kind: type[ReactionAdded | ReactionRemoved]) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, kind)


def likes_of(forum: DiscordForum, *user_ids: int) -> list[tuple[int, int]]:
    """(likes received, likes given) per member."""
    return [(m.likes_received, m.likes_given) for m in (forum.member(u) for u in user_ids)]


async def test_likes_given_and_taken_back_while_away_are_counted_after_a_restart(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    dana = double.world.add_user("dana")
    community.guild.add_member(dana)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread_id = await forum_post(forum, community.forum, community.alice, "Syncope work-up")
        qt = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        echo = await reply(forum, thread_id, community.bob, "And an echo.")
        await reply(forum, thread_id, dana, "Agree with both.")
        await double.add_reaction(thread_id, qt, "👍", community.alice)
        await double.add_reaction(thread_id, echo, "👍", community.alice)
        await forum.applied.wait(reactions(ReactionAdded), count=2)
        await forum.settle()
        assert forum.member(community.bob).likes_received == 2

    # The bot is down. Dana likes the QT answer too, alice takes back her like of the echo answer,
    # bob likes the opening post with ❤️, and alice reacts 🎉 (not a like) to the echo answer.
    await double.add_reaction(thread_id, qt, "👍", dana, dispatch=False)
    await double.remove_reaction(thread_id, echo, "👍", community.alice, dispatch=False)
    await double.add_reaction(thread_id, thread_id, "❤️", community.bob, dispatch=False)
    await double.add_reaction(thread_id, echo, "🎉", community.alice, dispatch=False)
    double.rate_limit("GET", REACTION_USERS, times=1)  # Discord slows us down once

    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        assert [forum.post(m).like_count for m in (thread_id, qt, echo)] == [1, 2, 0]
        assert likes_of(forum, community.alice, community.bob, dana) == [(1, 1), (2, 1), (0, 1)]
        alice = forum.member(community.alice)
        with forum.store() as session:
            awarded = session.exec(select(TrophyAward).where(TrophyAward.member_id == alice.id)).all()
        assert "somebody-likes-you" in {a.trophy_key for a in awarded}  # trophies follow the sweep
        listed = double.calls("GET", REACTION_USERS)
        assert listed[0].status == 429  # waited out, then asked again
        # Users are listed only where a like emoji's count differs from the store, and not at all
        # where nobody is left (the echo answer): never for the 🎉 or the unchanged messages.
        assert {c.path.split("/")[4] for c in listed if c.status == 200} == {str(qt), str(thread_id)}

    before = len(double.calls("GET", REACTION_USERS))
    async with discord_forum(double, url) as forum:  # and a further restart changes nothing
        await caught_up(forum)
        assert [forum.post(m).like_count for m in (thread_id, qt, echo)] == [1, 2, 0]
        assert likes_of(forum, community.alice, community.bob, dana) == [(1, 1), (2, 1), (0, 1)]
        assert not [e for e in forum.applied.events if isinstance(e, ReactionAdded | ReactionRemoved)]
    assert len(double.calls("GET", REACTION_USERS)) == before


async def test_the_like_sweep_is_bounded_by_its_window_and_budget(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    sweep = dataclasses.replace(TEST_TUNING.backfill.likes, like_messages=2)
    tuning = dataclasses.replace(TEST_TUNING, backfill=dataclasses.replace(TEST_TUNING.backfill, likes=sweep))
    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        thread_id = await forum_post(forum, community.forum, community.alice, "Busy thread")
        answers = [await reply(forum, thread_id, community.bob, f"answer {n}") for n in range(4)]
        month_ago = datetime.now(UTC) - timedelta(days=30)
        old_thread, _ = await double.create_forum_post(
            community.forum, community.alice, "Old", "Go", at=month_ago
        )
        old = await double.post_message(old_thread, community.bob, "Old answer", at=month_ago)
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == old["id"])
        await forum.settle()
    for where, answer in [*((thread_id, a) for a in answers), (old_thread, int(old["id"]))]:
        await double.add_reaction(where, answer, "👍", community.alice, dispatch=False)

    async with discord_forum(double, url, tuning=tuning, announce_trophies=False) as forum:
        await caught_up(forum)
        # Newest first, two messages at most: the two latest answers are checked, the rest wait.
        assert [forum.post(a).like_count for a in answers] == [0, 0, 1, 1]
        (page,) = [c for c in double.calls("GET", f"/channels/{thread_id}/messages") if "before" in c.query]
        assert page.query["limit"] == "2"
        # A thread quiet for longer than the window (a week) is not read at all.
        assert forum.post(old["id"]).like_count == 0
        assert double.calls("GET", f"/channels/{old_thread}/messages") == []


async def test_clearing_reactions_takes_back_the_likes_they_carried(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    dana = double.world.add_user("dana")
    community.guild.add_member(dana)
    async with discord_forum(double, sqlite_url(tmp_path), announce_trophies=False) as forum:
        thread_id = await forum_post(forum, community.forum, community.alice, "Syncope work-up")
        qt = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        echo = await reply(forum, thread_id, community.bob, "And an echo.")
        for message, emoji, who in (
            (qt, "👍", community.alice),
            (qt, "👍", dana),
            (qt, "❤️", dana),
            (echo, "👍", community.alice),
        ):
            await double.add_reaction(thread_id, message, emoji, who)
        await forum.applied.wait(reactions(ReactionAdded), count=4)
        await forum.settle()
        assert forum.post(qt).like_count == 2

        await double.clear_reactions(thread_id, qt, "❤️")  # MESSAGE_REACTION_REMOVE_EMOJI
        (removed,) = await forum.applied.wait(reactions(ReactionRemoved))
        assert isinstance(removed, ReactionRemoved) and removed.actor.user_id == str(dana)
        await forum.settle()
        assert forum.post(qt).like_count == 2  # dana's 👍 still stands

        await double.clear_reactions(thread_id, qt)  # MESSAGE_REACTION_REMOVE_ALL
        await forum.applied.wait(reactions(ReactionRemoved), count=3)
        await forum.settle()
        assert forum.post(qt).like_count == 0
        assert forum.post(echo).like_count == 1  # another message's likes are untouched
        assert likes_of(forum, community.bob, community.alice, dana) == [(1, 0), (0, 1), (0, 0)]

        await double.clear_reactions(thread_id, echo, "🎉")  # not a like: nothing to take back
        await double.add_reaction(thread_id, qt, "👍", dana)  # and likes count again afterwards
        await forum.applied.wait(reactions(ReactionAdded), count=5)
        await forum.settle()
        assert forum.post(qt).like_count == 1
        assert len([e for e in forum.applied.events if isinstance(e, ReactionRemoved)]) == 3


async def test_a_bulk_deletion_removes_every_post_it_names(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path), announce_trophies=False) as forum:
        thread_id = await forum_post(forum, community.forum, community.alice, "Syncope work-up")
        spam = [await reply(forum, thread_id, community.bob, f"buy pills {n}") for n in range(3)]
        kept = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        await double.add_reaction(thread_id, spam[0], "👍", community.alice)
        await forum.applied.wait(reactions(ReactionAdded))
        await double.delete_messages_in_bulk(thread_id, spam)  # MESSAGE_DELETE_BULK
        await forum.applied.wait(lambda e: isinstance(e, MessageDeleted), count=3)
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 1
        assert forum.member(community.bob).message_count == 1
        assert forum.member(community.bob).likes_received == 0
        assert forum.post(kept).deleted_at is None


async def test_likes_on_the_message_a_thread_was_started_from_are_swept_too(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A text-channel thread's opening post lives in the parent channel, not in the thread."""
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        starter = await double.post_message(community.general, community.alice, "Interesting ECG")
        thread_id = await double.create_thread(
            community.general, community.alice, "ECG discussion", from_message=int(starter["id"])
        )
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.starts_thread)
        await reply(forum, thread_id, community.bob, "Looks like Wellens.")
    await double.add_reaction(community.general, thread_id, "👍", community.bob, dispatch=False)

    async with discord_forum(double, url, announce_trophies=False) as forum:
        await caught_up(forum)
        assert forum.post(thread_id).like_count == 1
        assert likes_of(forum, community.alice, community.bob) == [(1, 0), (0, 1)]
