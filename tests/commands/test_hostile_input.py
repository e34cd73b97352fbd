"""Hostile input: whatever a member types, the answer is one polite line that repeats nothing live.

The transcripts name the cases found by hand; the property test at the end throws generated
invocations of every declared command at the forum, as a member and as a moderator.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from chatbridge.adapters.memory import Said
from chatbridge.dispatch import APOLOGY, GARBLED, Dispatcher
from chatbridge.model import CommandInvoked, Privilege
from chatbridge.registry import CommandSpec, ParamSpec
from chatbridge.store.tables import Member, Post, ProfileField, Sanction, Thread
from support.forum import Forum, running_forum, sqlite_url, texts

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
        ("!digest schedule here mon 0 UTC weekly.md.j2", "I didn't schedule it: weekly.md.j2: own templates"),
    ],
)
async def test_every_error_repeats_input_through_one_escaping_helper(
    forum: Forum, command: str, answer: str
) -> None:
    forum.chat.member("mo", Privilege.MODERATOR)
    said = texts(await forum.chat.say(command, as_="mo"))
    assert answer in said
    _, *usage = said.split("\n")  # the refusal, then at most the usage line
    assert usage == [] or (len(usage) == 1 and usage[0].startswith("Usage: "))


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
    await chat.say("see \u2066attached\u2069 \u202eexe.pdf", as_="eve\u202egpj.exe", thread=thread)
    reply = chat.last_message_id("eve\u202egpj.exe")

    shared = texts(await chat.say("!share", as_="bob", thread=thread, reply_to=reply))
    card = texts(await chat.say("!thread show #1", as_="bob"))
    profile = texts(await chat.say("!profile eve\u202egpj.exe", as_="bob"))

    assert "“see attached exe.pdf”" in shared and "evegpj.exe" in shared
    for said in (shared, card, profile):
        assert not any(ch in said for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


async def test_direction_overrides_are_stripped_from_digests(forum: Forum) -> None:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say('!thread new "Nights" Tips?', as_="alice")
    await chat.say("\u202eBlackout curtains.", as_="eve\u202egpj.exe", thread=chat.thread("Nights"))
    await chat.add_reaction(chat.last_message_id("eve\u202egpj.exe"), "👍", as_="alice")
    chat.advance(timedelta(hours=2))
    await chat.say("!digest schedule here monday 9 UTC", as_="mo")
    preview = texts(await chat.say("!digest preview", as_="mo"))
    assert "evegpj.exe" in preview and "Blackout curtains." in preview
    assert not any(ch in preview for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


async def test_a_title_keeps_its_inner_quotes(forum: Forum) -> None:
    chat = forum.chat
    said = texts(await chat.say('!thread new "Robert"); DELETE FROM threads" The body', as_="alice"))
    assert 'Thread #1 **Robert"); DELETE FROM threads** started' in said
    escaped = texts(await chat.say('!thread new "She said \\"no\\" twice" Body two', as_="alice"))
    assert 'Thread #2 **She said "no" twice** started' in escaped
    with forum.store() as session:
        assert [t.title for t in session.exec(select(Thread).order_by(col(Thread.id)))] == [
            'Robert"); DELETE FROM threads',
            'She said "no" twice',
        ]
        assert "The body" in [p.body for p in session.exec(select(Post))]


# -- the property: generated invocations of every declared command ---------------------------------

MENTIONS = ("@everyone", "@here", "@room", "@Room", "<@123>", "<@!123>", "<@&5>", "<#7>", "</ban:1>")
LINKS = (
    "[x](https://evil.example)",
    "[official update](https://evil.example/login)",
    "<https://evil.example>",
)
BIDI = tuple("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SURROGATES = ("\ud800", "\udbff", "\udc00", "\udfff")
NUMBERS = ("99999999999999999999", "9" * 400, "²", "٣", "１２", "-1", "0", "+5", "3.5", "0x10", "1e9", "#²")
QUOTES = ('"', "'", "“", "”", "„", "‘", "’", "\\", '"a b"', "“a b”", '"x"y', '\\"')
INVISIBLE = (
    "\u115f",
    "\u1160",
    "\u2800",
    "\u00ad",
    "\u034f",
    "\u3164",
    "\uffa0",
    "\u200b",
    "\u0301",
    "\u200d",
)
MARKUP = ("**", "__", "`", "```", "||", "# ", "> ", "-# ", "1. ", "~~", "&amp;", "&#91;", ":", "*")
CONTROL = ("\n", "\r\n", "\t", "\x00", "\x1b", "\u2028", "\x85", "\x7f")
VALID = {
    "case": ("#1", "1", "this", "#2"),
    "duration": ("10m", "2h", "1w", "366d", "99999999999999999999d", "1.5h"),
    "channel": ("here", "General Discussion", "clinical-questions"),
    "weekday": ("monday", "mon", "funday"),
    "timezone": ("UTC", "Europe/London", "Mars/Olympus"),
    "template": ("weekly.md.j2", "../../etc/passwd", "list"),
    "member": ("bob", "alice", "mo", "mallory", "<@bob>", "@bob", "eve\u202egpj.exe"),
    "thread": ("#1", "#2", "#3", "here", "Nights", "official", "update", "o", "#0"),
    "subforum": ("Clinical Questions", "#general-discussion", "General Discussion"),
    "points": ("2", "²", "100", "101"),
    "topic": ("thread", "profile set", "case"),
}
WORDS = ("bob", "spam", "Nights", "official", "update", "a", "x", "here", "#1", "monday", "9", "Egypt")
PIECES = MENTIONS + LINKS + BIDI + SURROGATES + NUMBERS + QUOTES + INVISIBLE + MARKUP + CONTROL + WORDS


def hostile_text(*, spaces: bool) -> st.SearchStrategy[str]:
    """Text made of pieces from every hostile alphabet, with arbitrary characters mixed in."""
    piece = st.one_of(
        st.sampled_from(PIECES), st.text(st.characters(codec=None, exclude_categories=()), max_size=4)
    )
    glue = st.sampled_from([" ", ""]) if spaces else st.just("")
    return st.lists(st.tuples(piece, glue), min_size=1, max_size=6).map(
        lambda p: "".join(a + b for a, b in p)
    )


def argument(param: ParamSpec) -> st.SearchStrategy[str]:
    """A value for one declared parameter: sometimes one it accepts, mostly hostile."""
    plausible: list[str] = list(param.choices) + list(VALID.get(param.name, ()))
    if param.kind == "int":
        plausible += [*NUMBERS, "1", "2", "9", "23", "24"]
    hostile = hostile_text(spaces=param.rest)
    if plausible:
        known = st.sampled_from(plausible)
        mixed = st.tuples(known, hostile).map(lambda kh: kh[0] + kh[1])
        value = st.one_of(known, known, hostile, mixed)
    else:
        value = hostile
    wrap = st.sampled_from(["{}", "{}", "{}", '"{}"', "“{}”", "'{}'"])
    return st.tuples(wrap, value).map(lambda wv: wv[0].replace("{}", wv[1]))


@st.composite
def invocation(draw: st.DrawFn, specs: list[CommandSpec], privilege: Privilege) -> str:
    """`!name args…` for a declared command (its parameters drawn one by one), or hostile words.

    Mostly commands the asker may use, so most examples get past the privilege check into the
    handlers; the rest are refused for privilege or are not commands at all.
    """
    usable = [s for s in specs if s.privilege <= privilege]
    spec = draw(st.one_of(st.sampled_from(usable), st.sampled_from(usable), st.sampled_from([*specs, None])))
    if spec is None:
        return "!" + draw(hostile_text(spaces=True))
    words = [spec.name]
    for param in spec.params:
        if not param.required and draw(st.integers(0, 3)) == 0:
            continue
        words.append(draw(argument(param)))
    return "!" + " ".join(words)


@st.composite
def slash_command(
    draw: st.DrawFn, specs: list[CommandSpec], privilege: Privilege
) -> tuple[tuple[str, ...], dict[str, object]]:
    """A command as Discord delivers it: a path and typed options (numbers may be any integer)."""
    usable = [s for s in specs if s.privilege <= privilege]
    spec = draw(st.one_of(st.sampled_from(usable), st.sampled_from(specs)))
    options: dict[str, object] = {}
    for param in spec.params:
        if not param.required and draw(st.integers(0, 3)) == 0:
            continue
        number = st.integers() if param.kind == "int" else st.nothing()
        options[param.name] = draw(st.one_of(number, argument(param)))
    if draw(st.integers(0, 9)) == 0:
        options[draw(hostile_text(spaces=False))] = draw(hostile_text(spaces=True))
    return spec.path, options


@dataclass
class Stage:
    """A forum with threads, a reported message and hostile names, built once per test function."""

    forum: Forum
    threads: list[str]
    messages: list[str]


async def _stage(forum: Forum) -> Stage:
    chat = forum.chat
    chat.member("mo", Privilege.MODERATOR)
    await chat.say('!thread new "Nights" Any tips for nights?', as_="alice")
    await chat.say(f'!thread new "{EVIL_TITLE}" Log in here.', as_="mallory")
    await chat.say('!thread new "An official update on rotas" Rotas are out.', as_="alice")
    nights, evil = chat.thread("Nights"), chat.thread(EVIL_TITLE)
    await chat.say("Sleep in blocks.", as_="bob", thread=nights)
    await chat.say("see \u202eexe.jpg [x](https://evil.example)", as_="eve\u202egpj.exe", thread=nights)
    await chat.say("@everyone click", as_="mallory", thread=evil)
    messages = [m.message_id for m in chat.transcript if m.author != "bot" and m.thread_id is not None]
    await chat.say("!report spam it's an ad", as_="bob", thread=evil, reply_to=messages[-1])
    return Stage(forum, [nights, evil], messages)


def _checked_answers(said: list[Said], refused: bool, example: str) -> None:
    """Every message the bot said meanwhile is inert; a refusal is one answer of one line (direct
    messages to other members, which the outbox delivers for earlier commands, are not answers)."""
    for message in said:
        text = message.text
        assert APOLOGY not in text, example
        assert not RAW_LINK_FROM_INPUT.search(text), (example, text)
        assert not RAW_MENTION.search(text), (example, text)
        assert not any(ch in text for ch in BIDI), (example, text)
        text.encode("utf-8")  # no lone surrogate: every platform could send it
    if refused:
        answers = [m for m in said if not m.room.room_id.startswith("dm-")]
        assert len(answers) == 1, (example, answers)
        lines = answers[0].text.split("\n")
        assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Usage: ")), (example, lines)


RAW_LINK_FROM_INPUT = re.compile(r"(?<!\\)\]\((?!<)")
"""A link's middle not made by the bot (whose links read `](<url>)`) and not escaped."""
RAW_MENTION = re.compile(r"@(everyone|here|room)|<@[!&]?\d+>|<#\d+>|</[^<>\n:]+:\d+>", re.IGNORECASE)
"""A mention as platforms recognise it; an escaped one has a zero-width space after the `@`/`<`."""


Place = tuple[str | None, str | None]


def _run_property(tmp_path: Path, caplog: pytest.LogCaptureFixture, as_: str, privilege: Privilege) -> None:
    """Hypothesis drives a synchronous function, so the forum runs on a loop of the test's own,
    started once: a store per example would make 2,000 examples take minutes."""
    loop = asyncio.new_event_loop()
    running = running_forum(sqlite_url(tmp_path))
    forum = loop.run_until_complete(running.__aenter__())
    try:
        stage = loop.run_until_complete(_stage(forum))
        specs = list(forum.core.registry)
        places = st.one_of(
            st.just((None, None)),
            st.tuples(st.sampled_from(stage.threads), st.none()),
            st.tuples(st.sampled_from(stage.threads), st.sampled_from(stage.messages)),
        )

        dispatcher = Dispatcher(forum.core)
        actor = forum.chat.members[as_]
        ids = itertools.count()

        async def slash(command: tuple[tuple[str, ...], dict[str, object]], thread: str | None) -> list[Said]:
            chat = forum.chat
            before = len(chat.transcript)
            path, options = command
            event = CommandInvoked(
                event_id=f"slash-{next(ids)}",
                at=chat.now(),
                room=chat.room_for_thread(thread) if thread else chat.room(),
                actor=actor,
                path=path,
                options=options,
                thread_id=thread,
            )
            await dispatcher.handle(event, chat)
            return [m for m in chat.transcript[before:] if m.author == "bot"]

        typed = invocation(specs, privilege)
        structured = slash_command(specs, privilege)

        @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(command=st.one_of(typed, typed, typed, structured), place=places)
        def check(command: str | tuple[tuple[str, ...], dict[str, object]], place: Place) -> None:
            caplog.clear()
            thread, reply_to = place
            with caplog.at_level(logging.DEBUG, logger="chatbridge"):
                if isinstance(command, str):
                    said = loop.run_until_complete(
                        forum.chat.say(command, as_=as_, thread=thread, reply_to=reply_to)
                    )
                else:
                    said = loop.run_until_complete(slash(command, thread))
            example = repr(command)
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, (example, [r.getMessage() for r in errors])
            refused = any(r.getMessage().startswith("refused command") for r in caplog.records)
            _checked_answers(said, refused, example)

        check()
    finally:
        loop.run_until_complete(running.__aexit__(None, None, None))
        loop.close()


def test_generated_commands_from_a_member_are_answered_safely(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _run_property(tmp_path, caplog, "alice", Privilege.MEMBER)


def test_generated_commands_from_a_moderator_are_answered_safely(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _run_property(tmp_path, caplog, "mo", Privilege.MODERATOR)
