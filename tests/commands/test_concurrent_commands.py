"""Commands at once: one waiting on the platform holds up no one else, and one member's stay in order."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path

from sqlmodel import select

from chatbridge.adapters.memory import Said
from chatbridge.context import Context
from chatbridge.registry import command
from chatbridge.store.tables import Report, Thread
from support.forum import Forum, sqlite_url, texts
from support.moderation import moderated_forum


async def test_a_command_waiting_on_the_platform_does_not_freeze_the_next_one(forum: Forum) -> None:
    chat = forum.chat
    platform_answered = asyncio.Event()
    waiting = asyncio.Event()

    @command("slowpoke", help="Sets a card field, then waits for the platform before answering.")
    async def slowpoke(ctx: Context) -> str:
        ctx.member.display_name = "alice (on call)"  # a write: the transaction holds the store
        ctx.session.flush()
        waiting.set()
        await platform_answered.wait()  # like `thread new` awaiting Discord's new forum post
        return "done"

    module = types.ModuleType("slow_commands")
    module.slowpoke = slowpoke  # type: ignore[attr-defined]
    forum.core.registry.add_module(module)

    first = asyncio.create_task(chat.say("!slowpoke", as_="alice"))
    await waiting.wait()
    second = asyncio.create_task(chat.say("!profile", as_="bob"))
    await asyncio.sleep(0.05)  # bob's command is queued behind alice's, the loop still runs
    platform_answered.set()
    assert "done" in texts(await first)
    assert "**bob**" in texts(await second)


async def finished_first(waiting: asyncio.Task[list[Said]], stalled: asyncio.Task[list[Said]]) -> list[Said]:
    """The answer of `waiting`, which must come while `stalled` still waits on the platform. (The
    bound only turns a regression into a failure instead of a hung test run.)"""
    done, _ = await asyncio.wait({waiting, stalled}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert done == {waiting}, "the command waited for another member's stalled platform call"
    return waiting.result()


async def test_a_stalled_platform_call_delays_only_its_own_command(forum: Forum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Rotas" Who swaps Sundays?', as_="bob")
    rotas = chat.thread("Rotas")
    forum_post = chat.gates["create_thread"] = asyncio.Event()  # Discord is slow to create the post

    alice = asyncio.create_task(chat.say('!thread new "Night shifts" Any tips for nights?', as_="alice"))
    bob = asyncio.create_task(chat.say("!profile", as_="bob"))
    assert "**bob** · New Member" in texts(await finished_first(bob, alice))
    carol = asyncio.create_task(chat.say("I do.", as_="carol", thread=rotas))  # ingest goes on too
    await finished_first(carol, alice)
    assert "Messages: 1" in texts(await chat.say("!profile", as_="carol"))
    with forum.store() as session:
        assert [t.title for t in session.exec(select(Thread))] == ["Rotas"], "stored before the post exists"

    forum_post.set()
    assert "Thread #2 **Night shifts** started in General Discussion" in texts(await alice)
    with forum.store() as session:
        thread = session.exec(select(Thread).where(Thread.title == "Night shifts")).one()
        assert thread.platform_thread_id == chat.thread("Night shifts")


async def test_one_members_commands_are_answered_in_the_order_they_were_given(forum: Forum) -> None:
    chat = forum.chat
    forum_post = chat.gates["create_thread"] = asyncio.Event()

    first = asyncio.create_task(chat.say('!thread new "Night shifts" Any tips for nights?', as_="alice"))
    second = asyncio.create_task(chat.say("!profile", as_="alice"))
    await finished_first(asyncio.create_task(chat.say("!profile", as_="bob")), first)
    assert not second.done(), "alice's second command overtook her first"

    forum_post.set()
    await first
    await second
    answers = [s.text for s in chat.transcript if s.author == "bot" and s.ephemeral_for != "bob"]
    created = next(i for i, text in enumerate(answers) if "started in General Discussion" in text)
    card = next(i for i, text in enumerate(answers) if "**alice**" in text)
    assert created < card
    assert "Messages: 1" in answers[card], "the profile was read after the thread was stored"


async def test_a_report_waiting_for_the_subjects_role_holds_up_no_one_else(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path)) as forum:
        chat = forum.chat
        await chat.say('!thread new "Night shifts" Any tips for the first month of nights?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say("Are you even a real doctor?", as_="mallory", thread=thread)
        hostile = chat.last_message_id("mallory")
        roles = chat.gates["member_privilege"] = asyncio.Event()  # the platform is rate-limited

        report = asyncio.create_task(
            chat.say(
                "!report harassment questioning credentials", as_="alice", thread=thread, reply_to=hostile
            )
        )
        reply = asyncio.create_task(chat.say("Nights get easier after a week.", as_="bob", thread=thread))
        await finished_first(reply, report)
        card = asyncio.create_task(chat.say("!profile", as_="bob"))
        assert "Messages: 1" in texts(await finished_first(card, report))
        with forum.store() as session:
            assert session.exec(select(Report)).all() == []

        roles.set()
        assert "Your report is with the moderators as case #1" in texts(await report)
        with forum.store() as session:
            assert session.exec(select(Report)).one().reason == "questioning credentials"
