"""Gateway events into the forum: posts, replies, likes, edits, deletions, members, rooms."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from chatbridge.model import (
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    RoomSeen,
)
from chatbridge.store.tables import Identity, Like, SubForum
from support.discord_double import Community, DiscordDouble, Intent
from support.discord_forum import discord_forum, forum_post, reply
from support.forum import sqlite_url


async def test_guild_channels_become_sub_forums_and_private_ones_are_marked(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    staff = community.guild.add_text_channel("staff-room")
    double.world.raw_channel(staff)["permission_overwrites"] = [
        {"id": str(community.guild_id), "type": 0, "allow": "0", "deny": str(1 << 10)}
    ]
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await forum.applied.wait(lambda e: isinstance(e, RoomSeen), count=3)
        with forum.store() as session:
            subforums = {
                s.name: (s.private, s.platform_room_id) for s in session.exec(select(SubForum)).all()
            }
    assert subforums == {
        "general": (False, str(community.general)),
        "questions": (False, str(community.forum)),
        "staff-room": (True, str(staff)),
    }


async def test_a_forum_post_opens_a_thread_and_replies_count(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path), message_content=False) as forum:
        thread_id = await forum_post(
            forum,
            community.forum,
            community.alice,
            "Syncope work-up",
            "Young athlete, normal ECG",
            tags=["cardiology"],
        )
        await reply(forum, thread_id, community.bob, "Check the QT interval.")
        await double.post_message(community.general, community.bob, "Plain chat outside threads")
        await reply(forum, thread_id, community.bob, "And an echo.")
        await forum.settle()
        thread = forum.thread(thread_id)
        assert (thread.title, thread.reply_count, thread.participant_count) == ("Syncope work-up", 2, 2)
        # Without the message-content intent posts still count; their text is simply empty.
        assert forum.post(thread_id).body == ""
        assert forum.member(community.bob).message_count == 2
        assert forum.member(community.alice).threads_started == 1
        opening = next(e for e in forum.applied.events if isinstance(e, MessagePosted) and e.starts_thread)
        assert isinstance(opening, MessagePosted) and opening.thread_tags == ("cardiology",)


async def test_a_thread_started_in_a_text_channel_opens_with_its_message(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        starter = await double.post_message(community.general, community.alice, "Interesting ECG from today")
        thread_id = await double.create_thread(
            community.general, community.alice, "ECG discussion", from_message=int(starter["id"])
        )
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.starts_thread)
        await reply(forum, thread_id, community.bob, "Looks like Wellens.")
        await forum.settle()
        thread = forum.thread(thread_id)
        assert (thread.title, thread.reply_count) == ("ECG discussion", 1)
        assert forum.post(starter["id"]).body == "Interesting ECG from today"


async def test_likes_come_from_raw_reactions_on_uncached_messages(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    async with discord_forum(double, url) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete", tags=["cardiology"]
        )
        answer = await reply(forum, thread_id, community.bob, "Check the QT interval.")

    async with discord_forum(double, url) as forum:  # a fresh client: the message is not cached
        assert all(m.id != answer for m in forum.platform.client.cached_messages)
        await double.add_reaction(thread_id, answer, "👍", community.alice)
        await double.add_reaction(thread_id, answer, "❤️", community.alice)  # same member: still one like
        await double.add_reaction(thread_id, answer, "🎉", community.alice)  # not a like emoji
        await forum.applied.wait(lambda e: isinstance(e, ReactionAdded), count=3)
        await forum.settle()
        assert forum.post(answer).like_count == 1
        assert forum.member(community.bob).likes_received == 1

        await double.remove_reaction(thread_id, answer, "👍", community.alice)
        await forum.applied.wait(lambda e: isinstance(e, ReactionRemoved))
        assert forum.post(answer).like_count == 1  # the ❤️ still stands
        await double.remove_reaction(thread_id, answer, "❤️", community.alice)
        await forum.applied.wait(lambda e: isinstance(e, ReactionRemoved), count=2)
        assert forum.post(answer).like_count == 0

        await double.add_reaction(thread_id, answer, "👍", community.alice)  # a re-add counts again
        await forum.applied.wait(lambda e: isinstance(e, ReactionAdded), count=4)
        await forum.settle()
        assert forum.post(answer).like_count == 1
        assert forum.member(community.alice).likes_given == 1


async def test_edits_and_deletions_change_the_forum(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete", tags=["cardiology"]
        )
        answer = await reply(forum, thread_id, community.bob, "Chekc the QT")
        await double.edit_message(thread_id, answer, "Check the QT interval.")
        await forum.applied.wait(lambda e: isinstance(e, MessageEdited))
        assert forum.post(answer).body == "Check the QT interval."

        await double.add_reaction(thread_id, answer, "👍", community.alice)
        await forum.applied.wait(lambda e: isinstance(e, ReactionAdded))
        await double.delete_message(thread_id, answer, by=community.bob)
        await forum.applied.wait(lambda e: isinstance(e, MessageDeleted))
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 0
        assert forum.member(community.bob).message_count == 0
        assert forum.member(community.bob).likes_received == 0
        with forum.store() as session:
            assert session.exec(select(Like)).all() == []

        await double.delete_message(thread_id, thread_id)  # the opening post takes the thread with it
        await forum.applied.wait(lambda e: isinstance(e, MessageDeleted), count=2)
        assert forum.thread(thread_id).removed


async def test_members_join_and_leave_and_bots_are_flagged(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    helper = double.world.add_user("helper-bot", bot=True)
    community.guild.add_member(helper)
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await double.member_joins(community.guild_id, community.carol)
        (joined,) = await forum.applied.wait(lambda e: isinstance(e, MemberJoined))
        assert isinstance(joined, MemberJoined) and joined.actor.user_id == str(community.carol)
        assert forum.member(community.carol).joined_at is not None
        await double.member_leaves(community.guild_id, community.carol)
        await forum.applied.wait(lambda e: isinstance(e, MemberLeft))

        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete", tags=["cardiology"]
        )
        await double.post_message(thread_id, helper, "Automated reminder: be kind.")
        (said,) = await forum.applied.wait(
            lambda e: isinstance(e, MessagePosted) and e.actor.user_id == str(helper)
        )
        assert isinstance(said, MessagePosted) and said.actor.is_bot
        await forum.settle()
        assert forum.thread(thread_id).reply_count == 0
        with forum.store() as session:
            assert (
                session.exec(select(Identity).where(Identity.platform_user_id == str(helper))).first() is None
            )


async def test_the_bot_asks_for_the_fewest_intents(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    wanted = (
        Intent.GUILDS
        | Intent.GUILD_MESSAGES
        | Intent.GUILD_MESSAGE_REACTIONS
        | Intent.GUILD_MEMBERS
        | Intent.GUILD_MODERATION  # audit-log entries: timeouts given by hand, for the case log
    )
    async with discord_forum(double, sqlite_url(tmp_path)):
        pass
    async with discord_forum(double, sqlite_url(tmp_path), message_content=False):
        pass
    assert [record.intents for record in double.identifies] == [wanted | Intent.MESSAGE_CONTENT, wanted]
