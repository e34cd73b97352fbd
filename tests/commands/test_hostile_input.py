"""Hostile input: whatever a member types, the answer is one polite line that repeats nothing live.

The transcripts name the cases found by hand; the property test at the end throws generated
invocations of every declared command at the forum, as a member and as a moderator.
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlmodel import select

from chatbridge.dispatch import APOLOGY, GARBLED
from chatbridge.model import Privilege
from chatbridge.store.tables import Member, Post, ProfileField, Sanction, Thread
from support.forum import Forum, texts

RAW_LINK = re.compile(r"(?<!\\)\]\(")
"""A Markdown link's middle that no backslash made literal."""
EVIL_TITLE = "[official update](https://evil.example/login) <@&5> @everyone"


async def test_several_matching_threads_are_listed_with_their_titles_made_inert(forum: Forum) -> None:
    chat = forum.chat
    await chat.say(f'!thread new "{EVIL_TITLE}" Log in here.', as_="mallory")
    await chat.say('!thread new "An official update on rotas" Rotas are out.', as_="alice")

    answer = texts(await chat.say("!thread show official", as_="bob"))

    assert answer.startswith("Several threads match 'official': ")
    assert "\\[official update\\](https\\://evil.example/login)" in answer
    assert not RAW_LINK.search(answer) and "@everyone" not in answer and "<@&5>" not in answer
    assert "\n" not in answer


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (
            "!thread show [x](https://evil.example) @everyone",
            "I can't find a thread called '\\[x\\](https\\://evil.example) @\u200beveryone'.",
        ),
        ("!profile <@123> @room", "I can't find a member called '\\<@\u200b123\\> @\u200broom' here."),
        (
            "!thread list latest 1 [x](https://e.x)",
            "There is no sub-forum called '\\[x\\](https\\://e.x)'. Sub-forums here: General Discussion, ",
        ),
        ("!thread list latest 1x", "There is no sub-forum called '1x'."),
        ("!help [x](https://e.x)", "There is no command '\\[x\\](https\\://e.x)' you can use."),
        ("!frob|nicate", "I don't know the command 'frob\\|nicate'."),
        ("!modlog bob @everyone", "I didn't expect '@\u200beveryone' there."),
        ("!digest schedule here mon 9**", "<hour> must be a whole number, not '9\\*\\*'."),
    ],
)
async def test_every_error_repeats_input_through_one_escaping_helper(
    forum: Forum, command: str, answer: str
) -> None:
    forum.chat.member("mo", Privilege.MODERATOR)
    said = texts(await forum.chat.say(command, as_="mo"))
    assert answer in said
    assert said.count("\n") <= 1  # the refusal, and at most the usage line under it


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("!share #99999999999999999999", "There is no thread '#999999999999999999…' here."),
        ("!share #²", "I can't find a thread called '#²'."),
        ("!thread show #١٢", "I can't find a thread called '#١٢'."),
        ("!thread list latest 99999999999999999999", "[page] must be at most 10,000."),
        ("!thread list latest " + "9" * 5000, "[page] must be at most 10,000."),
        ("!case claim #99999999999999999999", "Cases are numbers, like #12."),
        ("!warn bob 99999999999999999999 spam", "Warning points go from 1 to 100."),
    ],
)
async def test_numbers_are_bounded_and_ascii(
    forum: Forum, command: str, answer: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say('!thread new "Nights" Tips?', as_="bob")
    with caplog.at_level(logging.ERROR):
        said = texts(await chat.say(command, as_="mo"))
    assert answer in said and APOLOGY not in said
    assert not caplog.records


async def test_a_superscript_is_not_a_number_of_warning_points(forum: Forum) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say("hello", as_="bob")
    said = texts(await chat.say("!warn bob ² spam", as_="mo"))
    assert APOLOGY not in said and "**bob** is warned: 1 point" in said
    with forum.store() as session:  # the whole text is the reason, with the default points
        assert session.exec(select(Sanction)).one().reason == "² spam"


async def test_a_reply_with_a_broken_character_is_kept_and_counted(
    forum: Forum, caplog: pytest.LogCaptureFixture
) -> None:
    chat = forum.chat
    await chat.say('!thread new "Nights" Tips?', as_="alice")
    thread = chat.thread("Nights")
    with caplog.at_level(logging.ERROR):
        await chat.say("Sleep \ud800 in blocks", as_="bob", thread=thread)
    assert not caplog.records
    with forum.store() as session:
        bodies = [p.body for p in session.exec(select(Post)).all()]
        assert "Sleep \ufffd in blocks" in bodies
        assert session.exec(select(Thread)).one().reply_count == 1
        assert session.exec(select(Member).where(Member.display_name == "bob")).one().message_count == 1


async def test_a_command_with_a_broken_character_gets_a_clear_answer(forum: Forum) -> None:
    chat = forum.chat
    for command in ("!thread show \ud800", '!thread new "a\udc00b" body', "!profile set bio \udfff"):
        said = texts(await chat.say(command, as_="alice"))
        assert said == GARBLED
    with forum.store() as session:
        assert session.exec(select(Thread)).all() == []


async def test_a_broken_character_in_a_display_name_does_not_stop_a_command(forum: Forum) -> None:
    chat = forum.chat
    said = texts(await chat.say('!thread new "Nights" Tips?', as_="zo\ud800e"))
    assert "Thread #1 **Nights** started" in said
    assert "\ud800" not in texts(await chat.say("!thread show #1", as_="bob"))


@pytest.mark.parametrize(
    "blank", ["\u115f", "\u1160", "\u2800", "\u00ad\u034f", "\u3164", "\uffa0", "\u200b", "\u0301"]
)
async def test_text_made_only_of_invisible_characters_is_refused(forum: Forum, blank: str) -> None:
    chat = forum.chat
    title = texts(await chat.say(f'!thread new "{blank}" A real opening post', as_="alice"))
    bio = texts(await chat.say(f"!profile set bio {blank}", as_="alice"))
    assert "A title needs something visible" in title or "A title can't be empty" in title
    assert "needs something visible" in bio or "can't be empty" in bio
    with forum.store() as session:
        assert session.exec(select(Thread)).all() == []
        assert session.exec(select(ProfileField)).all() == []


async def test_direction_overrides_are_stripped_from_quotes_and_names(forum: Forum) -> None:
    chat = forum.chat
    chat.member("eve\u202egpj.exe")
    await chat.say('!thread new "Nights" Tips?', as_="eve\u202egpj.exe")
    thread = chat.thread("Nights")
    await chat.say("see \u2066attached\u2069 \u202eexe.jpg", as_="eve\u202egpj.exe", thread=thread)
    reply = chat.last_message_id("eve\u202egpj.exe")

    shared = texts(await chat.say("!share", as_="bob", thread=thread, reply_to=reply))
    card = texts(await chat.say("!thread show #1", as_="bob"))
    profile = texts(await chat.say("!profile eve\u202egpj.exe", as_="bob"))

    assert "“see attached exe.jpg”" in shared and "evegpj.exe" in shared
    for said in (shared, card, profile):
        assert not any(ch in said for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


async def test_a_title_keeps_its_inner_quotes(forum: Forum) -> None:
    chat = forum.chat
    said = texts(await chat.say('!thread new "Robert"); DELETE FROM threads" The body', as_="alice"))
    assert 'Thread #1 **Robert"); DELETE FROM threads** started' in said
    escaped = texts(await chat.say('!thread new "She said \\"no\\" twice" Body two', as_="alice"))
    assert 'Thread #2 **She said "no" twice** started' in escaped
    with forum.store() as session:
        assert [t.title for t in session.exec(select(Thread).order_by(Thread.id))] == [
            'Robert"); DELETE FROM threads',
            'She said "no" twice',
        ]
        assert "The body" in [p.body for p in session.exec(select(Post))]
