"""Reporting on Matrix without exposing the reporter, on a real Synapse.

A typed `!report` is a message in a shared room: once the report is stored the bot redacts it, so
the reported member cannot read who reported them, nor why. Commands written in the direct chat
with the bot are answered there (a report by pasting the message's link), a command typed in a
room whose answer went to the direct chat gets a ✉️, and a report made with the client's own
Report action (the spec's report endpoint) reaches the queue when the bot is a server admin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from matrix.test_adapter_case import Inbox, moderators_room
from nio import AsyncClient, RoomCreateResponse, RoomGetEventResponse, RoomPreset
from sqlmodel import select

from chatbridge.adapters.matrix import MatrixOptions
from chatbridge.model import MessageRef, PlatformName
from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import ModCase, Report
from support.matrix_forum import Forum, Member, body, open_forum, set_power

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]
Event = dict[str, Any]


def reaction_to(event_id: str, sender: str, key: str) -> Callable[[str, Event], bool]:
    def wanted(where: str, event: Event) -> bool:
        relates = event.get("content", {}).get("m.relates_to", {})
        return (
            event.get("type") == "m.reaction"
            and event.get("sender") == sender
            and relates.get("event_id") == event_id
            and relates.get("key") == key
        )

    return wanted


async def newcomer(forum: Forum, make_member: MakeMember, name: str) -> Member:
    """A member who joins the space and all its rooms."""
    member = Member(await make_member(name))
    for room_id in (forum.community.space_id, *forum.community.rooms.values()):
        await member.join(room_id)
    return member


async def test_a_typed_report_is_redacted_and_commands_work_in_the_direct_chat(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, general, alice, bob = forum.bot, forum.general, forum.alice, forum.bob
    mallory = await newcomer(forum, make_member, "mallory")
    queue = await moderators_room(forum, [bob])
    bot.settings_extra = {"moderation": {"queue_room": queue}}
    inbox = {name: Inbox(m) for name, m in (("alice", alice), ("mallory", mallory))}
    for each in inbox.values():
        await each.start()

    async with bot.running() as platform:
        # `!help` answers in the direct chat, and the command says so with a ✉️.
        helped = await alice.say(general, "!help")
        await inbox["alice"].from_bot(bot.user_id, "!profile")
        await inbox["alice"].find(reaction_to(helped, bot.user_id, "✉️"), "a ✉️ on !help")

        root = await alice.say(general, "Night shifts: how do you stay sharp at 4 am?")
        hostile = await mallory.say(general, "Are you even a real doctor?", thread=root)
        await bot.caught_up(hostile)
        typed = await alice.say(
            general, "!report harassment questioning my credentials", thread=root, reply_to=hostile
        )
        receipt = await inbox["alice"].from_bot(bot.user_id, "Your report is with the moderators as case #1")

        # The reported member's client: the command is redacted, its words gone.
        await inbox["mallory"].find(
            lambda where, e: e.get("type") == "m.room.redaction" and e.get("redacts") == typed,
            "the typed report redacted",
        )
        fetched = await mallory.client.room_get_event(general, typed)
        assert isinstance(fetched, RoomGetEventResponse), fetched
        seen = fetched.event.source
        assert "body" not in seen.get("content", {}), seen
        assert "questioning my credentials" not in json.dumps(seen)

        # Where the bot may not redact (power level below `redact`), the reporter is told privately.
        clinical = forum.clinical
        await set_power(forum.dana.client, clinical, bot.user_id, 0)
        question = await alice.say(clinical, "Is it safe to give amiodarone with warfarin?")
        rude = await mallory.say(clinical, "Read a textbook.", thread=question)
        await bot.caught_up(rude)
        visible = await alice.say(clinical, "!report harassment dismissive", thread=question, reply_to=rude)
        told = await inbox["alice"].from_bot(bot.user_id, "could not hide your command in Clinical Questions")
        assert "Your report is with the moderators" in body(told) and "power level 50" in body(told)
        await inbox["alice"].find(reaction_to(visible, bot.user_id, "✉️"), "a ✉️ on the visible report")

        # In the direct chat: commands are answered there, a report by pasting the message's link.
        direct = next(where for where, e in inbox["alice"].events if e.get("event_id") == receipt["event_id"])
        profile = await alice.say(direct, "!profile")
        card = await inbox["alice"].find(
            lambda where, e: (
                where == direct
                and e.get("sender") == bot.user_id
                and e.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == profile
            ),
            "the profile answered in the direct chat",
        )
        assert "alice" in body(card)

        spam = await mallory.say(general, "Buy cheap scrubs at https://spam.example", thread=root)
        await bot.caught_up(spam)
        link = platform.permalink(MessageRef(PlatformName.MATRIX, general, spam))
        await alice.say(direct, f"!report spam {link} selling in a clinical thread")
        await inbox["alice"].from_bot(
            bot.user_id, "Your report is with the moderators as case #3", room_id=direct
        )

        await alice.say(direct, f"!report spam https://matrix.to/#/%21nowhere%3Aexample.org/{spam}")
        await inbox["alice"].from_bot(bot.user_id, "That link is not to a message in a room of our community")
        await alice.say(direct, "!report spam")
        await inbox["alice"].from_bot(bot.user_id, "paste the link to the message", room_id=direct)

        with bot.store() as session:
            assert len(session.exec(select(Report)).all()) == 3
            cases = session.exec(select(ModCase)).all()
            assert {c.subject_platform_user_id for c in cases} == {mallory.user_id}

    # No ✉️ on the redacted command (it came before every later answer, so it would be here).
    assert not any(reaction_to(typed, bot.user_id, "✉️")(w, e) for w, e in inbox["alice"].events)
    told = [body(e) for _, e in inbox["mallory"].events if e.get("type") == "m.room.message"]
    assert not any("questioning my credentials" in text for text in told)
    assert not any(alice.user_id in text for text in told if text)


async def report_with_client(member: Member, room_id: str, event_id: str, reason: str) -> None:
    """Element's Report action: the spec's ``POST /rooms/{roomId}/report/{eventId}``."""
    client = member.client
    response = await client.send(
        "POST",
        f"/_matrix/client/v3/rooms/{room_id}/report/{event_id}",
        json.dumps({"reason": reason, "score": -100}),
        headers={"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"},
    )
    async with response:
        assert response.status == 200, await response.text()


async def test_a_report_from_the_clients_report_action_lands_in_the_queue_once(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    options = MatrixOptions(poll_timeout_ms=10_000, max_rate_limit_wait=5.0, report_poll_seconds=0.2)
    forum = await open_forum(homeserver, make_member, tmp_path, server_admin=True, options=options)
    bot, general, alice, bob = forum.bot, forum.general, forum.alice, forum.bob
    mallory = await newcomer(forum, make_member, "mallory")
    queue = await moderators_room(forum, [bob])
    bot.settings_extra = {"moderation": {"queue_room": queue}}
    inbox = {name: Inbox(m) for name, m in (("alice", alice), ("bob", bob))}
    for each in inbox.values():
        await each.start()

    async with bot.running():
        root = await alice.say(general, "Night shifts: any tips?")
        hostile = await mallory.say(general, "Sleep is for amateurs, loser.", thread=root)
        await bot.caught_up(hostile)
        await report_with_client(alice, general, hostile, "insulting")
        receipt = await inbox["alice"].from_bot(bot.user_id, "Your report is with the moderators as case #1")
        assert "About your report in General Discussion" in body(receipt)
        card = await inbox["bob"].from_bot(bot.user_id, "Case #1", room_id=queue)
        assert "About mallory" in body(card) and "alice" not in body(card)

    carol = await newcomer(forum, make_member, "carol")
    carols = Inbox(carol)
    await carols.start()
    async with bot.running():  # a restart reads on from the stored position
        second = await mallory.say(general, "And another thing, amateurs.", thread=root)
        await bot.caught_up(second)
        await report_with_client(carol, general, second, "again")
        await carols.from_bot(bot.user_id, "Your report is with the moderators as case #")
        with bot.store() as session:
            reasons = sorted(r.reason for r in session.exec(select(Report)).all())
        assert reasons == ["again", "insulting"], "each report once, also after a restart"


async def test_a_member_who_opens_a_direct_chat_is_answered_there_and_a_stranger_is_not(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Element's "Start chat" with the bot: a member of the community gets a chat that works like
    the one the bot opens; anyone else's invitation is refused as before. (This bot is no server
    admin: it says once at start that it does not read the homeserver's event reports.)"""
    caplog.set_level(logging.INFO, logger="chatbridge.adapters.matrix.reports")
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, bob = forum.bot, forum.bob
    eve = Member(await make_member("eve"))
    inbox = {name: Inbox(m) for name, m in (("bob", bob), ("eve", eve))}
    for each in inbox.values():
        await each.start()

    async with bot.running():
        rooms = {}
        for name, member in (("bob", bob), ("eve", eve)):
            made = await member.client.room_create(
                is_direct=True, invite=[bot.user_id], preset=RoomPreset.trusted_private_chat
            )
            assert isinstance(made, RoomCreateResponse), made
            rooms[name] = made.room_id

        def membership(room_id: str, state: str) -> Callable[[str, Event], bool]:
            return lambda where, e: (
                where == room_id
                and e.get("type") == "m.room.member"
                and e.get("state_key") == bot.user_id
                and e.get("content", {}).get("membership") == state
            )

        await inbox["bob"].find(membership(rooms["bob"], "join"), "the bot joining bob's chat")
        asked = await bob.say(rooms["bob"], "!profile")
        answer = await inbox["bob"].from_bot(bot.user_id, "bob", room_id=rooms["bob"])
        relates = answer["content"].get("m.relates_to", {})
        assert relates.get("m.in_reply_to", {}).get("event_id") == asked

        await inbox["eve"].find(membership(rooms["eve"], "leave"), "the bot refusing eve's chat")
    said = [r.getMessage() for r in caplog.records if r.name == "chatbridge.adapters.matrix.reports"]
    assert (
        len(said) == 1
        and "not reading the homeserver's event reports (the homeserver answered 403)" in said[0]
    )
