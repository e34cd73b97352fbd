"""Suggestions while typing (chatbridge.services.autocomplete): platform-neutral, within Discord's limits.

Built on the in-memory forum, because the lookups must not care which platform asks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.model import PlatformName
from chatbridge.services.autocomplete import MAX_CHARS, MAX_SUGGESTIONS, SuggestRequest, countries, suggest
from chatbridge.store.tables import SubForum
from support.forum import Forum, running_forum, sqlite_url


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[Forum]:
    async with running_forum(sqlite_url(tmp_path)) as running:
        chat = running.chat
        for title in ("Syncope work-up", "Statins in the elderly", "Night shifts", "Syncope in athletes"):
            await chat.say(f'!thread new "{title}" Opening post', as_="alice")
        await chat.say('!thread new "Staff rota" Internal', as_="bob", in_="Careers & Training")
        await chat.say("Hello", as_="Alicia Keys", thread=chat.thread("Night shifts"))
        yield running


def ask(forum: Forum, source: str, current: str, **extra: object) -> list[tuple[str, str]]:
    request = SuggestRequest(
        source=source,
        platform=PlatformName.MEMORY,
        community_platform_id=forum.chat.community_id,
        current=current,
        **extra,  # type: ignore[arg-type]
    )
    with forum.store() as session:
        return [(s.name, s.value) for s in suggest(session, request)]


async def test_threads_by_title_prefix_then_substring_and_by_number(forum: Forum) -> None:
    assert ask(forum, "threads", "sync") == [
        ("#4 Syncope in athletes · General Discussion", "#4"),
        ("#1 Syncope work-up · General Discussion", "#1"),
    ]
    assert [value for _, value in ask(forum, "threads", "elder")] == ["#2"]
    assert ask(forum, "threads", "#3")[0] == ("#3 Night shifts · General Discussion", "#3")


async def test_threads_in_private_sub_forums_are_suggested_to_their_readers_only(forum: Forum) -> None:
    with forum.store() as session:
        careers = session.exec(select(SubForum).where(SubForum.name == "Careers & Training")).one()
        careers.private = True
        session.add(careers)
        session.commit()
    assert ask(forum, "threads", "rota") == []
    assert ask(forum, "threads", "#5") == []
    assert ask(forum, "threads", "rota", reads=lambda room: room == "general-discussion") == []
    assert ask(forum, "threads", "rota", reads=lambda room: room == "careers-training") == [
        ("#5 Staff rota · Careers & Training", "#5")
    ]


async def test_members_by_name_with_their_platform_id_as_the_value(forum: Forum) -> None:
    assert ask(forum, "members", "ali") == [("alice", "alice"), ("Alicia Keys", "Alicia Keys")]
    assert ask(forum, "members", "@bo") == [("bob", "bob")]


async def test_a_name_with_a_direction_override_is_suggested_without_it(forum: Forum) -> None:
    await forum.chat.say("Hi", as_="eve\u202egpj.exe", thread=forum.chat.thread("Night shifts"))
    assert ask(forum, "members", "eve") == [("evegpj.exe", "eve\u202egpj.exe")]


async def test_a_broken_character_being_typed_suggests_without_failing(forum: Forum) -> None:
    assert ask(forum, "threads", "Syn\ud83d") == []
    assert ask(forum, "members", "\udfff") == []


async def test_nothing_is_suggested_for_an_unknown_community_or_source(forum: Forum) -> None:
    request = SuggestRequest("threads", PlatformName.DISCORD, "123", "sync")
    with forum.store() as session:
        assert suggest(session, request) == []
    assert ask(forum, "hashtags", "x") == []


def test_countries_by_name_alias_first_and_only_for_the_country_field() -> None:
    assert countries("uk", {})[0].value == "United Kingdom"
    assert countries("egy", {"field": "country"})[0].name == "🇪🇬 Egypt"
    assert countries("egy", {"field": "bio"}) == []
    everything = countries("", {})
    assert len(everything) == MAX_SUGGESTIONS and all(len(s.name) <= MAX_CHARS for s in everything)
    assert [s.value for s in countries("côte", {})] == ["Côte d'Ivoire"]
