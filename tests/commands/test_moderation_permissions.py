"""Every moderator command is refused to members, by dispatch and again inside the handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.model import CommandInvoked, Privilege
from chatbridge.registry import CommandSpec, ParamSpec, convert_options
from chatbridge.services import directory
from chatbridge.store.tables import metadata
from support.forum import sqlite_url
from support.moderation import ModForum, moderated_forum

SAMPLES = {"case": "1", "duration": "1h", "member": "alice", "points": "1"}


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with moderated_forum(sqlite_url(tmp_path)) as running:
        chat = running.chat
        await chat.say('!thread new "Night shifts" Tips?', as_="alice")
        await chat.say("Not a real doctor.", as_="mallory", thread=chat.thread("Night shifts"))
        hostile = chat.last_message_id("mallory")
        await chat.say("!report harassment", as_="bob", thread=chat.thread("Night shifts"), reply_to=hostile)
        await chat.say("!mute alice 1h for the sweep", as_="ada")
        await running.settle()
        yield running


def sample(param: ParamSpec) -> str:
    if param.choices:
        return param.choices[0]
    if param.kind == "int":
        return str(param.min_value or 1)
    return SAMPLES.get(param.name, "some text" if param.rest else "sample")


def moderator_specs(forum: ModForum) -> list[CommandSpec]:
    return [spec for spec in forum.core.registry if spec.privilege >= Privilege.MODERATOR]


def snapshot(forum: ModForum) -> dict[str, list[Any]]:
    """Every row of every table but the record of processed events (a refusal is still answered once)."""
    with forum.store() as session:
        return {
            table.name: sorted(map(tuple, session.connection().execute(select(table)).all()), key=repr)
            for table in metadata.sorted_tables
            if table.name != "processed_event"
        }


async def test_every_moderator_command_is_refused_to_members_and_changes_nothing(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = chat.thread("Night shifts"), chat.last_message_id("mallory")
    specs = moderator_specs(forum)
    names = {spec.name for spec in specs}
    assert {
        "queue",
        "case claim",
        "case resolve",
        "case dismiss",
        "case mute",
        "case warn",
        "case delete",
    } <= names
    assert {"mute", "unmute", "warn", "modlog", "note", "thread lock"} <= names
    before = snapshot(forum)
    for spec in specs:
        text = "!" + " ".join([*spec.path, *(sample(p) for p in spec.params)])
        replies = await chat.say(text, as_="mallory", thread=thread, reply_to=hostile)
        assert [r.ephemeral_for for r in replies] == ["mallory"], text
        assert f"`!{spec.name}` is for {spec.privilege.name.lower()}s." in replies[0].text, text
        await forum.settle()
        assert snapshot(forum) == before, f"{text} changed the store"


async def test_moderation_handlers_check_privilege_again(forum: ModForum) -> None:
    """Discord lets a server override command permissions per channel, so dispatch's check may be
    bypassed by the platform; each moderation handler refuses on its own."""
    chat = forum.chat
    specs = [
        s
        for s in moderator_specs(forum)
        if s.handler.__module__.endswith(("commands.moderation", "commands.pileon"))
    ]
    assert len(specs) >= 16
    now = chat.now()
    event = CommandInvoked(
        event_id="override", at=now, room=chat.room(), actor=chat.member("mallory"), raw="", target=None
    )
    with Session(forum.core.engine) as session:
        place = directory.resolve_place(session, event.room, now)
        member = directory.resolve_member(session, place.community, event.actor, now)
        for spec in specs:
            ctx = Context(
                core=forum.core,
                platform=chat,
                event=event,
                spec=spec,
                session=session,
                community=place.community,
                member=member,
                subforum=place.subforum,
                thread=None,
                privilege=Privilege.MEMBER,
                now=now,
            )
            options = convert_options(spec, {p.name: sample(p) for p in spec.params})
            with pytest.raises(CommandError, match=r"^Only moderators can "):
                await spec.handler(ctx, **options)
        session.rollback()
