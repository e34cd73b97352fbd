"""Private sub-forums: nothing from one reaches an answer that people who cannot read it will see.

The staff room is private (a Discord channel @everyone cannot see, an invite-only Matrix room):
only staffer, reader and modreader can read it. Every command that can show a thread or a
sub-forum is asked by a reader, a member who is not one, a moderator who is not one and a
moderator who is, in the public room and in the staff room itself; every answer is checked
against who can see it (the room's readers, or only the asker for a private answer).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.adapters.memory import DEFAULT_SUBFORUMS, MemoryPlatform, Said
from chatbridge.model import Privilege
from chatbridge.services.autocomplete import SuggestRequest, suggest
from chatbridge.store.tables import Member, Thread
from support.forum import Forum, running_forum, sqlite_url, texts

PUBLIC = "General Discussion"
STAFF = "Staff Room"
READERS = ("staffer", "reader", "modreader")
SECRETS = ("Zebra", "Quokka", STAFF, "staffer")
"""The private thread's title, a word of its opening post, the sub-forum's name, its starter."""

ASKERS = {
    "reader": Privilege.MEMBER,
    "outsider": Privilege.MEMBER,
    "mod": Privilege.MODERATOR,
    "modreader": Privilege.MODERATOR,
}

MEMBER_COMMANDS = (
    "!thread show #{private}",
    "!thread show Zebra rota",
    "!thread show zebra",
    "!thread show rota",
    "!share #{private}",
    "!share Zebra",
    "!share rota",
    "!thread list latest 1 Staff Room",
    "!thread list latest 1 staff-room",
    "!thread list latest 2 Staff Room",
    "!thread list latest 1 Nowhere",
    "!thread list",
)
MODERATOR_COMMANDS = (
    "!thread pin #{private}",
    "!thread unpin #{private}",
    "!thread lock Zebra",
    "!thread unlock Zebra",
    "!thread rename #{private} Zebra rota",
    "!thread move #{public} Nowhere",
)


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[Forum]:
    chat = MemoryPlatform(subforums=(*DEFAULT_SUBFORUMS, STAFF))
    async with running_forum(sqlite_url(tmp_path), chat=chat) as running:
        for name, privilege in ASKERS.items():
            chat.member(name, privilege)
        await chat.say('!thread new "Public night shifts" Tips for nights?', as_="alice")
        await chat.make_private(STAFF, READERS)
        await chat.say('!thread new "Zebra rota" Quokka handover notes', as_="staffer", in_=STAFF)
        await chat.say("Noted, thanks", as_="reader", thread=chat.thread("Zebra rota"))
        await chat.say('!thread new "Public rota swaps" Anyone swapping?', as_="alice")
        yield running


def numbers(forum: Forum) -> dict[str, int]:
    with forum.store() as session:
        ids = {t.title: t.id for t in session.exec(select(Thread)).all()}
    return {"public": ids["Public night shifts"] or 0, "private": ids["Zebra rota"] or 0}


def seen_by_outsiders(said: Said) -> bool:
    """Whether someone who cannot read the staff room sees this answer."""
    if said.ephemeral_for is not None:
        return said.ephemeral_for not in READERS
    return said.room.room_id != "staff-room"


def assert_nothing_private(command: str, replies: list[Said]) -> None:
    """No secret appears in an answer an outsider sees, beyond what the asker typed themselves."""
    for said in replies:
        if not seen_by_outsiders(said):
            continue
        for secret in SECRETS:
            shown = said.text.casefold().count(secret.casefold())
            typed = command.casefold().count(secret.casefold())
            assert shown <= typed, f"{command!r} showed {secret!r} to outsiders: {said.text!r}"


async def ask_everything(forum: Forum, asker: str, where: str) -> list[tuple[str, list[Said]]]:
    chat = forum.chat
    ids = numbers(forum)
    commands = [c.format(**ids) for c in MEMBER_COMMANDS]
    if ASKERS[asker] >= Privilege.MODERATOR:
        commands += [c.format(**ids) for c in MODERATOR_COMMANDS]
    walk = [f"!thread show #{n}" for n in range(1, 6)] + [f"!share #{n}" for n in range(1, 6)]
    answers = []
    for command in commands + walk:
        answers.append((command, await chat.say(command, as_=asker, in_=where)))
    private_post = chat.message(chat.thread("Zebra rota")).message_id
    answers.append(("!share", await chat.say("!share", as_=asker, in_=where, reply_to=private_post)))
    return answers


@pytest.mark.parametrize(
    ("asker", "where"),
    [
        ("reader", PUBLIC),
        ("reader", STAFF),
        ("outsider", PUBLIC),
        ("mod", PUBLIC),
        ("modreader", PUBLIC),
        ("modreader", STAFF),
    ],
)
async def test_no_answer_shows_a_private_sub_forum_to_those_who_cannot_read_it(
    forum: Forum, asker: str, where: str
) -> None:
    for command, replies in await ask_everything(forum, asker, where):
        assert replies, f"{command!r} went unanswered"
        assert_nothing_private(command, replies)


async def test_an_outsider_cannot_tell_a_private_thread_from_a_missing_one(forum: Forum) -> None:
    chat = forum.chat
    private = numbers(forum)["private"]

    def same(text: str) -> str:
        return re.sub(r"#\d+", "#N", text)

    for asker in ("outsider", "mod"):
        for command, missing in (
            (f"!thread show #{private}", "!thread show #999"),
            (f"!share #{private}", "!share #999"),
            ("!thread show Zebra rota", "!thread show Yak rota"),
            ("!thread list latest 1 Staff Room", "!thread list latest 1 Yak Room"),
        ):
            secret = texts(await chat.say(command, as_=asker))
            nothing = texts(await chat.say(missing, as_=asker))
            assert same(secret).replace("Zebra", "Yak").replace("Staff", "Yak") == same(nothing)
        refused = texts(await chat.say("!thread show rota", as_=asker))
        assert "Several" not in refused and "Public rota swaps" in refused
    pin = texts(await chat.say(f"!thread pin #{private}", as_="mod"))
    assert pin == f"There is no thread #{private} here."
    with forum.store() as session:
        assert not session.get(Thread, private).pinned  # type: ignore[union-attr]


async def test_a_reader_asking_in_public_is_answered_privately(forum: Forum) -> None:
    chat = forum.chat
    private = numbers(forum)["private"]
    card = await chat.say(f"!thread show #{private}", as_="reader")
    assert [s.ephemeral_for for s in card] == ["reader"]
    assert "Zebra rota" in card[0].text and "staffer" in card[0].text
    share = await chat.say("!share Zebra", as_="reader")
    assert [s.ephemeral_for for s in share] == ["reader"] and "Quokka" in share[0].text
    listing = await chat.say("!thread list latest 1 Staff Room", as_="reader")
    assert [s.ephemeral_for for s in listing] == ["reader"] and "Zebra rota" in listing[0].text
    several = texts(await chat.say("!thread show rota", as_="reader"))
    assert "Several threads match" in several and "Zebra rota" in several
    pinned = await chat.say(f"!thread pin #{private}", as_="modreader")
    assert [s.ephemeral_for for s in pinned] == ["modreader"] and "pinned" in pinned[0].text


async def test_in_the_private_room_itself_answers_are_posted_for_its_readers(forum: Forum) -> None:
    chat = forum.chat
    private = numbers(forum)["private"]
    card = await chat.say(f"!thread show #{private}", as_="reader", in_=STAFF)
    assert [(s.ephemeral_for, s.room.room_id) for s in card] == [(None, "staff-room")]
    assert "Zebra rota" in card[0].text
    listing = texts(await chat.say("!thread list", as_="reader", in_=STAFF))
    assert "Zebra rota" in listing


async def test_moving_a_thread_into_a_private_sub_forum_is_told_privately(forum: Forum) -> None:
    chat = forum.chat
    public = numbers(forum)["public"]
    refused = texts(await chat.say(f"!thread move #{public} Staff Room", as_="mod"))
    assert refused.startswith("There is no sub-forum called 'Staff Room'.") and refused.count(STAFF) == 1
    moved = await chat.say(f"!thread move #{public} Staff Room", as_="modreader")
    assert [s.ephemeral_for for s in moved] == ["modreader"] and "moved to Staff Room" in moved[0].text
    gone = texts(await chat.say(f"!thread show #{public}", as_="outsider"))
    assert gone == f"There is no thread #{public} here."


def suggestions(forum: Forum, who: str, typed: str) -> list[str]:
    chat = forum.chat
    request = SuggestRequest(
        source="threads",
        platform=chat.name,
        community_platform_id=chat.community_id,
        current=typed,
        reads=lambda room: chat.can_read(room, who),
    )
    with forum.store() as session:
        return [s.name for s in suggest(session, request)]


async def test_autocomplete_suggests_private_threads_to_their_readers_only(forum: Forum) -> None:
    private = numbers(forum)["private"]
    for who in ("outsider", "mod"):
        assert suggestions(forum, who, "rota") == ["#3 Public rota swaps · General Discussion"]
        assert suggestions(forum, who, f"#{private}") == []
        assert not any("Zebra" in s for s in suggestions(forum, who, ""))
    assert suggestions(forum, "reader", "zebra") == [f"#{private} Zebra rota · Staff Room"]


async def a_private_week(chat: MemoryPlatform) -> None:
    """A busy week in the staff room (three members, likes, an unanswered thread, a newcomer who
    is only ever there) next to a quieter public one."""
    zebra = chat.thread("Zebra rota")
    await chat.say("Quokka cover on Friday", as_="modreader", thread=zebra)
    await chat.add_reaction(chat.last_message_id("modreader"), "👍", as_="staffer")
    await chat.add_reaction(chat.last_message_id("modreader"), "👍", as_="reader")
    chat.readers["staff-room"] |= {"stealthdoc"}
    await chat.say("Zebra swap for stealthdoc?", as_="stealthdoc", thread=zebra)
    await chat.say('!thread new "Zebra unanswered" Quokka question', as_="staffer", in_=STAFF)
    public = chat.thread("Public night shifts")
    await chat.say("Sleep in blocks.", as_="bob", thread=public)
    await chat.say("Blackout curtains.", as_="carol", thread=public)
    await chat.add_reaction(chat.last_message_id("carol"), "👍", as_="alice")
    await chat.join("newbie")
    chat.advance(timedelta(hours=2))


async def test_a_public_digest_shows_nothing_from_a_private_sub_forum(forum: Forum) -> None:
    chat = forum.chat
    await a_private_week(chat)
    [digest] = await chat.say("!digest preview", as_="mod")
    assert "the week in review" in digest.text and "Public night shifts" in digest.text
    assert "Please welcome" in digest.text and "newbie" in digest.text
    for secret in (*SECRETS, "stealthdoc", "modreader", "reader"):
        assert secret.casefold() not in digest.text.casefold(), secret
    # The week in numbers counts the public threads only: #1 and #3 opened, 2 replies, 1 like.
    assert "2 new threads · 2 replies · 1 like" in digest.text


async def test_a_member_seen_only_in_a_private_room_is_not_welcomed_or_listed(forum: Forum) -> None:
    chat = forum.chat
    await a_private_week(chat)
    with forum.store() as session:
        seen = {m.display_name: m.seen_in_public for m in session.exec(select(Member)).all()}
    assert seen["newbie"] and not seen["stealthdoc"] and not seen["staffer"]
    preview = texts(await chat.say("!digest preview", as_="mod"))
    assert "stealthdoc" not in preview and "staffer" not in preview
    # Once seen in public (joining a public room), the welcome follows.
    await chat.join("stealthdoc")
    assert "stealthdoc" in texts(await chat.say("!digest preview", as_="mod"))


async def test_a_post_in_a_private_sub_forum_cannot_be_liked_from_outside(forum: Forum) -> None:
    chat = forum.chat
    opening = chat.thread("Zebra rota")
    public = chat.thread("Public night shifts")
    refused = await chat.say("!like", as_="outsider", thread=public, reply_to=opening)
    assert texts(refused) == "That message isn't a post in a forum thread, so it can't be liked."
    liked = await chat.say("!like", as_="reader", in_=STAFF, thread=opening, reply_to=opening)
    assert texts(liked).startswith("Liked. 👍")
    with forum.store() as session:
        zebra = session.exec(select(Thread).where(Thread.title == "Zebra rota")).one()
        assert zebra.like_count == 1


async def test_a_moderator_cannot_name_a_private_channel_they_cannot_read_for_a_digest(forum: Forum) -> None:
    chat = forum.chat
    refused = texts(await chat.say('!digest schedule "Staff Room" monday 9 UTC', as_="mod"))
    assert refused.startswith("I don't know a channel called 'Staff Room'.")
    assert refused.count(STAFF) == 1
    scheduled = texts(await chat.say('!digest schedule "Staff Room" monday 9 UTC', as_="modreader"))
    assert "Weekly digest scheduled in **Staff Room**" in scheduled


async def test_a_member_seen_only_in_a_private_room_is_no_member_to_outsiders(forum: Forum) -> None:
    chat = forum.chat
    for asking in ("!profile staffer", "!trophies staffer"):
        for asker in ("outsider", "mod"):
            said = texts(await chat.say(asking, as_=asker))
            assert said == "I can't find a member called 'staffer' here.", (asking, asker)
        privately = await chat.say(asking, as_="reader")
        assert [s.ephemeral_for for s in privately] == ["reader"] and "staffer" in privately[0].text
        inside = await chat.say(asking, as_="reader", in_=STAFF)
        assert [s.ephemeral_for for s in inside] == [None] and "staffer" in inside[0].text
    muted = texts(await chat.say("!mute staffer 10m spam", as_="mod"))
    assert muted == "I can't find a member called 'staffer' here."
    # Once they speak in a public room, everyone may name them.
    await chat.say("Nice one", as_="staffer", thread=chat.thread("Public night shifts"))
    assert "**staffer**" in texts(await chat.say("!profile staffer", as_="outsider"))


async def test_a_public_leaderboard_leaves_out_the_names_of_members_seen_only_in_private(
    forum: Forum,
) -> None:
    chat = forum.chat
    zebra = chat.thread("Zebra rota")
    await chat.add_reaction(chat.message(zebra).message_id, "👍", as_="reader")
    public = texts(await chat.say("!leaderboard week likes", as_="outsider"))
    assert "1. (a member of a private room) · 1" in public and "staffer" not in public
    assert "staffer" not in texts(await chat.say("!leaderboard month points", as_="reader"))
    inside = texts(await chat.say("!leaderboard week likes", as_="reader", in_=STAFF))
    assert "1. staffer · 1" in inside


def member_suggestions(forum: Forum, who: str, typed: str) -> list[str]:
    chat = forum.chat
    request = SuggestRequest(
        source="members",
        platform=chat.name,
        community_platform_id=chat.community_id,
        current=typed,
        reads=lambda room: chat.can_read(room, who),
    )
    with forum.store() as session:
        return [s.name for s in suggest(session, request)]


async def test_members_seen_only_in_private_are_suggested_to_readers_only(forum: Forum) -> None:
    assert member_suggestions(forum, "outsider", "staff") == []
    assert member_suggestions(forum, "mod", "") == ["alice"]
    assert member_suggestions(forum, "reader", "staff") == ["staffer"]
