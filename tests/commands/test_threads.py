"""Threads, as members and moderators use them."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from chatbridge.adapters.memory import MemoryPlatform
from chatbridge.model import Privilege
from chatbridge.store.tables import Member, Thread
from support.forum import Forum, texts


async def start_night_shifts(chat: MemoryPlatform) -> str:
    await chat.say('!thread new "Night shifts as a new resident" Any tips for the first month?', as_="alice")
    return chat.thread("Night shifts as a new resident")


async def test_a_member_starts_a_thread_and_others_reply(forum: Forum) -> None:
    chat = forum.chat
    replies = await chat.say(
        '!thread new "Night shifts" Any tips for the first month of nights?', as_="alice"
    )
    assert "Thread #1 **Night shifts** started in General Discussion" in texts(replies)
    thread = chat.thread("Night shifts")

    await chat.say("Sleep in blocks.", as_="bob", thread=thread)
    chat.advance(timedelta(hours=2))
    await chat.say("Eat before midnight.", as_="carol", thread=thread)
    chat.advance(timedelta(hours=2))

    card = texts(await chat.say("!thread show", as_="dave", thread=thread))
    assert (
        "Discussion in 'General Discussion' started by alice, Jul 16, 2025 · 2 replies · 0 likes · "
        "last reply by carol 2 h ago"
    ) in card
    with forum.store() as session:
        stored = session.exec(select(Thread)).one()
        assert (stored.reply_count, stored.participant_count) == (2, 3)


async def test_replies_count_once_and_edits_and_deletions_are_followed(forum: Forum) -> None:
    chat = forum.chat
    thread = await start_night_shifts(chat)
    await chat.say("First reply", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await chat.edit(reply, "First reply, edited", as_="bob")
    await chat.say("Second reply", as_="bob", thread=thread)
    await chat.delete(chat.last_message_id("bob"))

    with forum.store() as session:
        stored = session.exec(select(Thread)).one()
        bob = session.exec(select(Member).where(Member.display_name == "bob")).one()
        assert stored.reply_count == 1
        assert bob.message_count == 1


async def test_command_and_bot_messages_do_not_count(forum: Forum) -> None:
    chat = forum.chat
    thread = await start_night_shifts(chat)
    await chat.say("!thread show", as_="bob", thread=thread)
    with forum.store() as session:
        assert session.exec(select(Thread)).one().reply_count == 0


async def test_listing_orders_and_pages(forum: Forum) -> None:
    chat = forum.chat
    for n in range(12):
        await chat.say(f'!thread new "Case {n}" Discussion {n}', as_="alice")
        chat.advance(timedelta(minutes=1))
    busy = chat.thread("Case 3")
    for who in ("bob", "carol"):
        await chat.say("reply", as_=who, thread=busy)

    page_one = texts(await chat.say("!thread list replies", as_="bob"))
    assert page_one.index("#4 Case 3") < page_one.index("#12 Case 11")
    assert "page 1" in page_one
    assert "!thread list replies 2" in page_one
    page_two = texts(await chat.say("!thread list latest 2", as_="bob"))
    assert "page 2" in page_two and "#1 Case 0" in page_two and "thread list latest 3" not in page_two
    assert "has 2 pages" in texts(await chat.say("!thread list latest 9", as_="bob"))


async def test_moderators_lock_and_a_locked_reply_is_not_counted(forum: Forum) -> None:
    chat = forum.chat
    thread = await start_night_shifts(chat)
    chat.member("mo", Privilege.MODERATOR)

    refused = texts(await chat.say("!thread lock", as_="bob", thread=thread))
    assert "is for moderators" in refused

    assert "is now locked" in texts(await chat.say("!thread lock", as_="mo", thread=thread))
    notice = await chat.say("Late reply", as_="bob", thread=thread)
    assert "is locked, so your reply was not counted" in texts(notice)
    with forum.store() as session:
        assert session.exec(select(Thread)).one().reply_count == 0

    await chat.say("!thread unlock #1", as_="mo")
    await chat.say("Now it counts", as_="bob", thread=thread)
    with forum.store() as session:
        assert session.exec(select(Thread)).one().reply_count == 1


async def test_moderators_pin_rename_and_move(forum: Forum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Old case" body', as_="alice")
    await chat.say('!thread new "Newer case" body', as_="alice")
    chat.member("mo", Privilege.MODERATOR)

    await chat.say("!thread pin #1", as_="mo")
    listing = texts(await chat.say("!thread list", as_="bob"))
    assert listing.index("Old case") < listing.index("Newer case")

    renamed = texts(await chat.say('!thread rename #1 "Shift patterns"', as_="mo"))
    assert "renamed from “Old case” to **Shift patterns**" in renamed
    moved = texts(await chat.say("!thread move #1 clinical questions", as_="mo"))
    assert "moved to Clinical Questions" in moved
    assert "Shift patterns" in texts(await chat.say("!thread list latest 1 Clinical Questions", as_="bob"))
    unknown = texts(await chat.say("!thread move #1 Cardiology", as_="mo"))
    assert "There is no sub-forum called 'Cardiology'" in unknown


async def test_a_hostile_title_cannot_ping_or_inject_links(forum: Forum) -> None:
    chat = forum.chat
    await chat.say('!thread new "@everyone [free](http://evil.example) **loud**" body', as_="mallory")
    listing = texts(await chat.say("!thread list", as_="bob"))
    assert "@everyone" not in listing
    assert "[free](http://evil.example)" not in listing
    assert "\\*\\*loud\\*\\*" in listing
