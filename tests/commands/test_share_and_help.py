"""Share links with context, help, and how bad input is answered."""

from __future__ import annotations

from chatbridge.dispatch import Dispatcher
from chatbridge.model import MessagePosted, Privilege
from support.forum import Forum, texts


async def test_sharing_a_thread_carries_its_context(forum: Forum) -> None:
    chat = forum.chat
    await chat.say(
        '!thread new "Ketamine for agitation" Our ED protocol changed last week, thoughts?', as_="alice"
    )
    share = texts(await chat.say("!share Ketamine", as_="bob"))
    assert "**Ketamine for agitation** · in 'General Discussion' · started by alice, Jul 16, 2025" in share
    assert "“Our ED protocol changed last week, thoughts?”" in share
    assert "(<https://chat.example/console/general-discussion/" in share


async def test_sharing_a_reply_by_replying_to_it(forum: Forum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Ketamine" body', as_="alice")
    thread = chat.thread("Ketamine")
    await chat.say("We stopped using it for that.", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    share = texts(await chat.say("!share", as_="carol", thread=thread, reply_to=reply))
    assert "> bob, Jul 16, 2025: “We stopped using it for that.”" in share
    assert reply in share


async def test_a_removed_post_cannot_be_shared(forum: Forum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Ketamine" body', as_="alice")
    thread = chat.thread("Ketamine")
    await chat.say("Something regrettable", as_="bob", thread=thread)
    reply = chat.last_message_id("bob")
    await chat.delete(reply)
    refused = texts(await chat.say("!share", as_="carol", thread=thread, reply_to=reply))
    assert "removed or hidden" in refused and "regrettable" not in refused


async def test_help_lists_only_what_you_may_use(forum: Forum) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    assert "thread lock" not in texts(await chat.say("!help", as_="bob"))
    assert "thread lock" in texts(await chat.say("!help", as_="mo"))
    topic = texts(await chat.say("!help thread new", as_="bob"))
    assert "`!thread new <title> <body…>`" in topic


async def test_bad_input_gets_a_polite_answer_and_usage(forum: Forum) -> None:
    chat = forum.chat
    assert "opened but never closed" in texts(await chat.say('!thread new "unclosed title', as_="bob"))
    assert "I don't know the command 'frobnicate'" in texts(await chat.say("!frobnicate", as_="bob"))
    missing = texts(await chat.say("!thread new", as_="bob"))
    assert "needs <title>" in missing and "Usage: `!thread new <title> <body…>`" in missing
    assert "needs a subcommand" in texts(await chat.say("!thread", as_="bob"))
    assert "must be at least 1" in texts(await chat.say("!thread list latest 0", as_="bob"))
    assert "There is no sub-forum called 'two'" in texts(await chat.say("!thread list latest two", as_="bob"))


async def test_answers_are_never_a_traceback(forum: Forum) -> None:
    chat = forum.chat
    answers = texts(await chat.say("!thread show #999999999999999999999", as_="bob"))
    assert "Traceback" not in answers
    assert answers


async def test_a_redelivered_command_is_answered_once(forum: Forum) -> None:
    chat = forum.chat
    await chat.say("!profile", as_="bob")
    redelivered = MessagePosted(
        event_id="e1",
        at=chat.now(),
        room=chat.room(),
        actor=chat.member("bob"),
        message_id="m1",
        text="!profile",
    )
    before = len(chat.transcript)
    await Dispatcher(forum.core).handle(redelivered, chat)
    assert len(chat.transcript) == before
