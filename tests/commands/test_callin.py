"""Call-ins: a private word through the bot, answered once or reported, limited, never from the muted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.store.tables import CallIn, ModCase
from support.forum import texts
from support.moderation import ModForum

from .test_credentials import badge_forum


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with badge_forum(tmp_path) as running:
        yield running


async def test_a_named_call_in_about_a_post_reaches_only_its_author(forum: ModForum) -> None:
    chat = forum.chat
    thread = await chat.start_thread("Ketamine", "Ketamine is always safe, trust me.", as_="omar")
    sent = await chat.say(
        "!callin post Could you add a source? Some readers are new residents.",
        as_="hend",
        thread=thread,
        reply_to=thread,
    )
    assert [s.ephemeral_for for s in sent] == ["hend"]
    assert "Sent privately to omar, with your name." in texts(sent)
    await forum.settle()
    delivered = forum.dms("omar")
    assert "💬 **A call-in** from hend about your post in **Ketamine**" in delivered
    assert "“Could you add a source? Some readers are new residents.”" in delivered
    assert "`!callin answer #1 <your answer>`" in delivered
    public = [s.text for s in chat.transcript if s.author == "bot" and s.ephemeral_for is None]
    assert not any("Could you add a source" in text for text in public)


async def test_an_anonymous_call_in_hides_the_sender_from_the_recipient_not_the_moderators(
    forum: ModForum,
) -> None:
    chat = forum.chat
    await chat.say("hello", as_="omar")
    answer = texts(await chat.say("!callin omar anonymous That joke about patients read badly.", as_="hend"))
    assert "anonymously (only the moderators can see it was you)" in answer
    await forum.settle()
    delivered = forum.dms("omar")
    assert (
        "from a member (anonymous to you; the moderators know who)" in delivered and "hend" not in delivered
    )
    log = texts(await chat.say("!modlog omar", as_="mo"))
    assert "call-in #1 received from hend (anonymous to them): That joke about patients read badly." in log
    with forum.store() as session:
        assert session.exec(select(CallIn)).one().anonymous


async def test_the_recipient_answers_once_through_the_bot(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("hello", as_="omar")
    await chat.say("!callin omar anon Please reconsider the tone in #12.", as_="hend")
    answered = texts(await chat.say_direct("!callin answer #1 Fair point, I edited it.", as_="omar"))
    assert "Passed on your answer to call-in #1." in answered
    again = texts(await chat.say_direct("!callin answer #1 And another thing", as_="omar"))
    assert "You have already answered call-in #1" in again
    await forum.settle()
    assert "💬 omar answered your call-in #1: “Fair point, I edited it.”" in forum.dms("hend")
    assert "another thing" not in forum.dms("hend")
    assert "You have no call-in #1" in texts(await chat.say_direct("!callin answer #1 hi", as_="bob"))


async def test_the_recipient_can_report_a_call_in_and_moderators_see_the_sender(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("hello", as_="omar")
    await chat.say("!callin omar anonymous You are an idiot.", as_="hend")
    reported = texts(await chat.say_direct("!callin report #1 This is not constructive.", as_="omar"))
    assert "Your report is with the moderators as case #1" in reported
    with forum.store() as session:
        case = session.exec(select(ModCase)).one()
        assert case.category == "harassment" and case.subject_member_id is not None
        assert session.exec(select(CallIn)).one().reported_at is not None
    assert "call-in #1 received from hend" in texts(await chat.say("!modlog omar", as_="mo"))
    assert "sent call-in #1 to omar" in texts(await chat.say("!modlog hend", as_="mo"))


async def test_limits_refusals_and_escaping(forum: ModForum) -> None:
    chat = forum.chat
    for name in ("omar", "lina", "dana", "carol", "erin", "finn"):
        await chat.say("hello", as_=name)
    assert "you can't send one to yourself" in texts(await chat.say("!callin hend hi", as_="hend"))
    assert "Please add the message" in texts(await chat.say("!callin omar anonymous", as_="hend"))
    assert "Sent privately" in texts(await chat.say("!callin omar first", as_="hend"))
    assert "already sent them a call-in today" in texts(await chat.say("!callin omar second", as_="hend"))
    for sender in ("lina", "dana"):
        assert "Sent privately" in texts(await chat.say("!callin omar hi", as_=sender))
    assert "several call-ins today already" in texts(await chat.say("!callin omar hi", as_="carol"))
    for recipient in ("lina", "dana", "carol", "erin"):
        await chat.say(f"!callin {recipient} hi", as_="hend")
    assert "You've sent 5 call-ins today" in texts(await chat.say("!callin finn hi", as_="hend"))

    await chat.say("!callin finn **look** @everyone [x](https://evil)", as_="erin")
    await forum.settle()
    delivered = forum.dms("finn")
    assert "\\*\\*look\\*\\*" in delivered and "@everyone" not in delivered and "[x](https" not in delivered


async def test_a_muted_member_cannot_send_a_call_in(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say("hello", as_="omar")
    await chat.say("hello", as_="hend")
    await chat.say("!mute hend 1h spamming", as_="mo")
    refused = texts(await chat.say("!callin omar please", as_="hend"))
    assert "You are muted" in refused
    with forum.store() as session:
        assert session.exec(select(CallIn)).all() == []
