"""Likes by reaction and by command, trophies and leaderboards."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from chatbridge.store.tables import Member, Post, TrophyAward
from support.forum import Forum, texts


async def opening_post(forum: Forum) -> str:
    await forum.chat.say('!thread new "Sepsis bundles" What is your hospital doing?', as_="alice")
    return forum.chat.thread("Sepsis bundles")


def numbers(forum: Forum, name: str) -> tuple[int, int, int]:
    with forum.store() as session:
        member = session.exec(select(Member).where(Member.display_name == name)).one()
        return member.message_count, member.likes_received, member.trophy_points


async def test_like_reactions_count_once_per_member(forum: Forum) -> None:
    chat = forum.chat
    post = await opening_post(forum)
    await chat.add_reaction(post, "👍", as_="bob")
    await chat.add_reaction(post, "❤️", as_="bob")
    await chat.add_reaction(post, "🎉", as_="carol")
    assert numbers(forum, "alice")[1] == 1

    await chat.remove_reaction(post, "👍", as_="bob")
    assert numbers(forum, "alice")[1] == 1, "bob still likes it with ❤️"
    await chat.remove_reaction(post, "❤️", as_="bob")
    assert numbers(forum, "alice")[1] == 0


async def test_no_self_likes(forum: Forum) -> None:
    chat = forum.chat
    post = await opening_post(forum)
    await chat.add_reaction(post, "👍", as_="alice")
    assert numbers(forum, "alice")[1] == 0
    assert "can't like your own post" in texts(
        await chat.say("!like", as_="alice", thread=post, reply_to=post)
    )


async def test_like_by_command_as_a_reply(forum: Forum) -> None:
    chat = forum.chat
    post = await opening_post(forum)
    assert "Liked" in texts(await chat.say("!like", as_="bob", thread=post, reply_to=post))
    assert "already like" in texts(await chat.say("!like", as_="bob", thread=post, reply_to=post))
    await chat.add_reaction(post, "👍", as_="bob")
    assert numbers(forum, "alice")[1] == 1
    assert "Like removed" in texts(await chat.say("!unlike", as_="bob", thread=post, reply_to=post))
    assert numbers(forum, "alice")[1] == 0
    assert "as a reply to the message" in texts(await chat.say("!like", as_="bob", thread=post))


async def test_deleting_a_post_takes_its_likes_out_of_the_counts(forum: Forum) -> None:
    chat = forum.chat
    thread = await opening_post(forum)
    await chat.say("We use a checklist", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await chat.add_reaction(reply, "👍", as_="alice")
    assert numbers(forum, "bob")[:2] == (1, 1)
    await chat.delete(reply)
    assert numbers(forum, "bob")[:2] == (0, 0)
    with forum.store() as session:
        assert session.exec(select(Post).where(Post.platform_message_id == reply)).one().like_count == 0


async def test_trophies_are_awarded_once_and_announced(forum: Forum) -> None:
    chat = forum.chat
    thread = await opening_post(forum)
    first = texts(await chat.say("Checklist here", as_="bob", thread=thread))
    assert "bob earned the trophy **First Message**" in first
    again = texts(await chat.say("And a second thought", as_="bob", thread=thread))
    assert "First Message" not in again
    with forum.store() as session:
        awards = session.exec(select(TrophyAward.member_id, TrophyAward.trophy_key)).all()
        assert (
            len(awards) == len(set(awards)) == 3
        )  # alice: first message, thread starter; bob: first message
    assert "First Message" in texts(await chat.say("!trophies bob", as_="carol"))


async def test_a_trophy_awarded_by_a_command_meanwhile_is_not_awarded_again(forum: Forum) -> None:
    """The ingest remembers which trophies a member holds; a like by command awards one behind
    its back, and the next reaction must not award (or announce, or count) it a second time."""
    chat = forum.chat
    thread = await opening_post(forum)
    await chat.say("Checklist here", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await chat.say("!like", as_="alice", thread=thread, reply_to=reply)
    announced = texts(chat.transcript).count("bob earned the trophy **Somebody Likes You**")
    assert announced == 1

    await chat.add_reaction(reply, "👍", as_="carol")

    assert texts(chat.transcript).count("bob earned the trophy **Somebody Likes You**") == 1
    with forum.store() as session:
        bob = session.exec(select(Member).where(Member.display_name == "bob")).one()
        awards = session.exec(select(TrophyAward).where(TrophyAward.member_id == bob.id)).all()
        assert sorted(a.trophy_key for a in awards) == ["first-message", "somebody-likes-you"]
        assert bob.likes_received == 2
        assert bob.trophy_points == sum(a.points for a in awards)


async def test_rank_titles_climb_with_trophy_points(forum: Forum) -> None:
    chat = forum.chat
    thread = await opening_post(forum)
    for n in range(30):
        await chat.say(f"reply {n}", as_="bob", thread=thread)
        await chat.add_reaction(chat.last_message_id("bob"), "👍", as_="alice")
    card = texts(await chat.say("!profile bob", as_="alice"))
    assert "New Member" not in card.splitlines()[0]
    assert "Messages: 30 · Likes Received: 30" in card


async def test_leaderboard_by_likes_and_points(forum: Forum) -> None:
    chat = forum.chat
    thread = await opening_post(forum)
    await chat.add_reaction(thread, "👍", as_="bob")
    await chat.add_reaction(thread, "👍", as_="carol")
    await chat.say("A reply", as_="bob", thread=thread)
    await chat.add_reaction(chat.last_message_id("bob"), "👍", as_="alice")

    week = texts(await chat.say("!leaderboard week likes", as_="dave"))
    assert week.index("alice · 2") < week.index("bob · 1")
    points = texts(await chat.say("!leaderboard all points", as_="dave"))
    assert "1. alice" in points
    chat.advance(timedelta(days=8))
    assert "Nobody on the board yet this week" in texts(await chat.say("!leaderboard week likes", as_="dave"))
    assert "alice · 2" in texts(await chat.say("!leaderboard all likes", as_="dave"))


async def test_a_leaderboard_is_at_most_a_minute_old_and_refreshed_in_the_background(forum: Forum) -> None:
    chat = forum.chat
    thread = await opening_post(forum)
    await chat.add_reaction(thread, "👍", as_="bob")
    assert "alice · 1" in texts(await chat.say("!leaderboard week likes", as_="dave"))

    await chat.add_reaction(thread, "👍", as_="carol")
    chat.advance(timedelta(seconds=20))
    assert "alice · 1" in texts(await chat.say("!leaderboard week likes", as_="dave")), "a snapshot"

    chat.advance(timedelta(seconds=15))
    forum.core.leaderboards.refresh()  # what the application's worker does every half minute
    assert "alice · 2" in texts(await chat.say("!leaderboard week likes", as_="dave"))

    await chat.add_reaction(thread, "👍", as_="erin")
    chat.advance(timedelta(minutes=1))
    assert "alice · 3" in texts(await chat.say("!leaderboard week likes", as_="dave")), "stale: counted again"


async def test_boards_nobody_asks_for_are_forgotten(forum: Forum) -> None:
    await forum.chat.say("!leaderboard month points", as_="dave")
    boards = forum.core.leaderboards
    assert len(boards._snapshots) == 1
    forum.chat.advance(timedelta(minutes=16))
    boards.refresh()
    assert not boards._snapshots
