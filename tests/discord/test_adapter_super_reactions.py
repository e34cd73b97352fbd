"""Super-reactions: a member's super-reaction with a like emoji is that member's like, counted once
with a normal one, the same way live and in the like sweep after a restart."""

from __future__ import annotations

from pathlib import Path

from chatbridge.model import CursorMoved, ReactionAdded, ReactionRemoved
from support.discord_double import Community, DiscordDouble
from support.discord_forum import DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url

REACTION_USERS = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"


async def caught_up(forum: DiscordForum) -> None:
    await forum.applied.wait(lambda e: isinstance(e, CursorMoved) and e.scope.startswith("guild:"))
    await forum.settle()


async def applied_reactions(forum: DiscordForum, count: int) -> None:
    await forum.applied.wait(lambda e: isinstance(e, ReactionAdded | ReactionRemoved), count=count)
    await forum.settle()


async def test_a_super_reaction_is_a_like_counted_once_with_a_normal_one(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    alice, bob = community.alice, community.bob
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(forum, community.forum, alice, "Syncope work-up")
        answer = await reply(forum, thread_id, bob, "Check the QT interval.")

        await double.add_reaction(thread_id, answer, "👍", alice, burst=True)
        await applied_reactions(forum, 1)
        assert forum.post(answer).like_count == 1
        await double.add_reaction(thread_id, answer, "👍", alice)
        await applied_reactions(forum, 2)
        assert (forum.post(answer).like_count, forum.member(bob).likes_received) == (1, 1)

        await double.remove_reaction(thread_id, answer, "👍", alice, burst=True)
        await applied_reactions(forum, 3)
        assert forum.post(answer).like_count == 1  # the normal one still stands
        await double.remove_reaction(thread_id, answer, "👍", alice)
        await applied_reactions(forum, 4)
        assert (forum.post(answer).like_count, forum.member(bob).likes_received) == (0, 0)


async def test_the_sweep_counts_super_reactions_given_while_away_and_then_agrees(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    alice, bob = community.alice, community.bob
    dana = double.world.add_user("dana")
    community.guild.add_member(dana)
    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        thread_id = await forum_post(forum, community.forum, alice, "Syncope work-up")
        answer = await reply(forum, thread_id, bob, "Check the QT interval.")
        await double.add_reaction(thread_id, answer, "👍", alice, burst=True)
        await applied_reactions(forum, 1)

    # While the bot is away: dana super-reacts, alice adds a normal 👍 to her super one.
    await double.add_reaction(thread_id, answer, "👍", dana, burst=True, dispatch=False)
    await double.add_reaction(thread_id, answer, "👍", alice, dispatch=False)

    async with discord_forum(double, url) as forum:
        await caught_up(forum)
        assert (forum.post(answer).like_count, forum.member(bob).likes_received) == (2, 2)
        listed = [c for c in double.calls("GET", REACTION_USERS) if c.status == 200]
        # Each kind is listed by its own type, and only where its own count differs.
        assert sorted(c.query.get("type", "0") for c in listed) == ["0", "1"]

    before = len(double.calls("GET", REACTION_USERS))
    async with discord_forum(double, url) as forum:  # a further restart agrees at once
        await caught_up(forum)
        assert (forum.post(answer).like_count, forum.member(bob).likes_received) == (2, 2)
        assert not [e for e in forum.applied.events if isinstance(e, ReactionAdded | ReactionRemoved)]
    assert len(double.calls("GET", REACTION_USERS)) == before
