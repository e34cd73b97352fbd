"""The privacy matrix: every declared command × who asks × where, generated from the registry.

A forum with a private sub-forum (the Staff Room) holding a thread whose title, body, starter and
one replier appear nowhere else, next to a member whose profile has moderators-only and hidden
fields. Every command the registry declares is run, typed and structured, with arguments that
point at the private things (its number, a title prefix, the sub-forum's name, the private-only
members' names, `here` inside it) and ordinary ones, by a member who cannot read the Staff Room,
one who can, a moderator who cannot and the profile's owner, in the public room, inside the
private thread and in a direct chat. Whatever the bot says where someone outside the Staff Room
can read it names nothing from there, and a hidden field's value reaches only its owner, privately.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from chatbridge.adapters.memory import DEFAULT_SUBFORUMS, MemoryPlatform, Said
from chatbridge.dispatch import Dispatcher
from chatbridge.model import Actor, CommandInvoked, MessageRef, Privilege
from chatbridge.registry import CommandSpec, ParamSpec
from chatbridge.services.autocomplete import SOURCES, SuggestRequest, suggest
from chatbridge.store.tables import Thread
from support.forum import Forum, running_forum, sqlite_url

PUBLIC = "General Discussion"
STAFF = "Staff Room"
STAFF_ID = "staff-room"
PRIVATE_ONLY = {"u-quimby": "Quimby Ravensworth", "u-ozzy": "Ozymandias Peabody"}
"""Members seen only in the Staff Room (user id: display name); askers name them by id, so an
answer that names them shows a surname nobody typed."""
READERS = frozenset({"reader", *PRIVATE_ONLY, *PRIVATE_ONLY.values()})
"""Who can read the Staff Room (user ids, and the names ephemeral answers are marked with)."""
SECRETS = ("Quagmire", "Marmalade", "Ravensworth", "Peabody", STAFF, STAFF_ID)
"""The private thread's title (its tail: askers type only its head, "Zebra"), a word of its
opening post, its starter's and a replier's surnames and the sub-forum's name."""
MODERATOR_ONLY = "Vexillology"
HIDDEN = "Clandestine burnout diary"
ASKERS = {
    "outsider": Privilege.MEMBER,
    "reader": Privilege.MEMBER,
    "mod": Privilege.MODERATOR,
    "subject": Privilege.MEMBER,
}
PLACES = ("public", "private", "direct")

ORDINARY = "ordinary words"
VALUES: dict[str, tuple[str, ...]] = {
    "thread": ("#{private}", "Zebra", "here", "#{public}"),
    "subforum": (STAFF, STAFF_ID, PUBLIC),
    "channel": (STAFF, "here", PUBLIC),
    "member": ("u-quimby", "u-ozzy", "subject", "Quimby", "<@u-ozzy>"),
    "case": ("#1", "this"),
    "duration": ("10m",),
    "weekday": ("monday",),
    "hour": ("9",),
    "timezone": ("UTC",),
    "points": ("2",),
    "topic": ("thread", "profile", "share"),
    "page": ("1", "2"),
    # Only visibilities that keep the subject's fields secret: making one public is allowed.
    "visibility": ("hidden", "moderators"),
}


def values(param: ParamSpec) -> tuple[str, ...]:
    if param.name in VALUES:
        return VALUES[param.name]
    if param.choices:
        return tuple(param.choices)
    return (ORDINARY,)


def invocations(spec: CommandSpec) -> Iterator[dict[str, str]]:
    """Argument sets for one spec: each parameter's values in turn (zipped, not multiplied, so a
    spec takes as many runs as its longest list), then once with only the required ones."""
    lists = [values(p) for p in spec.params]
    runs = max((len(v) for v in lists), default=1)
    for i in range(runs):
        yield {p.name: v[i % len(v)] for p, v in zip(spec.params, lists, strict=True)}
    if not all(p.required for p in spec.params):
        yield {p.name: v[0] for p, v in zip(spec.params, lists, strict=True) if p.required}


@dataclass
class Stage:
    forum: Forum
    numbers: dict[str, int]
    private_thread: str
    private_post: str
    public_thread: str
    public_post: str


async def _stage(forum: Forum) -> Stage:
    chat = forum.chat
    for name, privilege in ASKERS.items():
        chat.member(name, privilege)
    for user_id, name in PRIVATE_ONLY.items():
        chat.members[user_id] = Actor(chat.name, user_id=user_id, display_name=name)
    await chat.say('!thread new "Public night shifts" Tips for nights?', as_="alice")
    public_thread = chat.thread("Public night shifts")
    await chat.say("Sleep in blocks.", as_="reader", thread=public_thread)
    await chat.say("Blackout curtains.", as_="subject", thread=public_thread)
    public_post = chat.last_message_id("subject")
    await chat.say("!report spam it's an ad", as_="outsider", thread=public_thread, reply_to=public_post)
    await chat.make_private(STAFF, READERS)
    await chat.say('!thread new "Zebra Quagmire rota" Marmalade handover notes', as_="u-quimby", in_=STAFF)
    private_thread = chat.thread("Zebra Quagmire rota")
    await chat.say("Marmalade cover on Friday", as_="u-ozzy", thread=private_thread)
    private_post = chat.last_message_id(PRIVATE_ONLY["u-ozzy"])
    await chat.add_reaction(private_post, "👍", as_="u-quimby")
    await chat.say("Noted, thanks", as_="reader", thread=private_thread)
    await chat.say(f"!profile set specialty {MODERATOR_ONLY}", as_="subject")
    await chat.say("!profile visibility specialty moderators", as_="subject")
    await chat.say(f"!profile set bio {HIDDEN}", as_="subject")
    await chat.say("!profile visibility bio hidden", as_="subject")
    with forum.store() as session:
        ids = {t.title: t.id or 0 for t in session.exec(select(Thread)).all()}
    numbers = {"public": ids["Public night shifts"], "private": ids["Zebra Quagmire rota"]}
    return Stage(forum, numbers, private_thread, private_post, public_thread, public_post)


def seen_by_outsiders(said: Said) -> bool:
    """Whether someone who cannot read the Staff Room sees this message."""
    if said.ephemeral_for is not None:
        return said.ephemeral_for not in READERS
    return said.room.room_id != STAFF_ID


def check(asked: str, replies: list[Said]) -> list[str]:
    """No secret in a message outsiders see beyond what the asker typed; hidden fields only to
    their owner privately, moderators-only ones privately to the owner or a moderator."""
    leaks = []
    for said in replies:
        text = said.text.casefold()
        if seen_by_outsiders(said):
            for secret in SECRETS:
                shown, typed = text.count(secret.casefold()), asked.casefold().count(secret.casefold())
                if shown > typed:
                    leaks.append(f"{asked} showed {secret!r} to outsiders: {said.text!r}")
        if HIDDEN.casefold() in text and said.ephemeral_for != "subject":
            leaks.append(f"{asked} showed the hidden field: {said.text!r}")
        if MODERATOR_ONLY.casefold() in text and said.ephemeral_for not in ("subject", "mod"):
            leaks.append(f"{asked} showed a moderators-only field: {said.text!r}")
    return leaks


def typed(spec: CommandSpec, arguments: dict[str, str]) -> str:
    words = [spec.name]
    for param in spec.params:
        if param.name in arguments:
            value = arguments[param.name]
            quoted = " " in value and not param.rest
            words.append(f'"{value}"' if quoted else value)
    return "!" + " ".join(words)


async def run_spec(stage: Stage, spec: CommandSpec, leaks: list[str]) -> int:
    """Every asker × place × argument set × form for one spec (only readers are ever inside the
    private room); returns how many were asked and adds what leaked to `leaks`."""
    chat = stage.forum.chat
    dispatcher = Dispatcher(stage.forum.core)
    ids = itertools.count()
    asked = 0
    for arguments, asker, place in itertools.product(invocations(spec), ASKERS, PLACES):
        if place == "private" and asker not in READERS:
            continue
        arguments = {k: v.format(**stage.numbers) for k, v in arguments.items()}
        thread, reply_to, room = {
            "public": (stage.public_thread, stage.public_post, chat.room(PUBLIC)),
            "private": (stage.private_thread, stage.private_post, chat.room(STAFF)),
            "direct": (None, None, None),
        }[place]
        text = typed(spec, arguments)
        label = f"{text!r} by {asker} ({place})"
        before = len(chat.transcript)
        if room is None:
            await chat.say_direct(text, as_=asker)
        else:
            # In the public room the command is typed in the room itself; in the private one,
            # inside the private thread ("here" is that thread), replying to its post.
            await chat.say(
                text,
                as_=asker,
                in_=room.name,
                thread=thread if place == "private" else None,
                reply_to=reply_to,
            )
        leaks += check(label, [s for s in chat.transcript[before:] if s.author == "bot"])
        options: dict[str, object] = {
            k: int(v) if p.kind == "int" and v.isdigit() else v
            for p in spec.params
            for k, v in arguments.items()
            if p.name == k
        }
        actor = chat.members[asker]
        event = CommandInvoked(
            event_id=f"matrix-{next(ids)}",
            at=chat.now(),
            room=room or chat.room_for_id(f"dm-{asker}"),
            actor=actor,
            path=spec.path,
            options=options,
            thread_id=thread if place == "private" else None,
            target=MessageRef(chat.name, room.room_id, reply_to, thread, chat.community_id)
            if room is not None and reply_to is not None
            else None,
            direct=room is None,
        )
        before = len(chat.transcript)
        await dispatcher.handle(event, chat)
        leaks += check(
            f"{spec.path}{options} by {asker} ({place}, structured)",
            [s for s in chat.transcript[before:] if s.author == "bot"],
        )
        asked += 2
    return asked


async def test_every_command_keeps_the_private_room_and_hidden_fields_to_their_readers(
    tmp_path: Path,
) -> None:
    """One forum per command, so what one command changes (a mute, a move) cannot hide another's leak."""
    async with running_forum(
        sqlite_url(tmp_path / "probe"), chat=MemoryPlatform(subforums=(STAFF,))
    ) as probe:
        specs = list(probe.core.registry)
    asked = 0
    leaks: list[str] = []
    for n, spec in enumerate(specs):
        directory = tmp_path / f"spec{n}"
        directory.mkdir()
        chat = MemoryPlatform(subforums=(*DEFAULT_SUBFORUMS, STAFF))
        async with running_forum(sqlite_url(directory), chat=chat) as forum:
            stage = await _stage(forum)
            asked += await run_spec(stage, spec, leaks)
    assert not leaks, "\n".join(leaks)
    assert asked > 1000


async def test_no_suggestion_names_the_private_room_to_those_who_cannot_read_it(tmp_path: Path) -> None:
    chat = MemoryPlatform(subforums=(*DEFAULT_SUBFORUMS, STAFF))
    async with running_forum(sqlite_url(tmp_path), chat=chat) as forum:
        stage = await _stage(forum)
        for source, who, current in itertools.product(
            SOURCES,
            ("outsider", "mod", "subject"),
            ("", "z", "Zebra", "q", "o", "#", f"#{stage.numbers['private']}", "s"),
        ):
            request = SuggestRequest(
                source=source,
                platform=chat.name,
                community_platform_id=chat.community_id,
                current=current,
                reads=lambda room, who=who: chat.can_read(room, who),  # type: ignore[misc]
            )
            with forum.store() as session:
                shown = " ".join(f"{s.name} {s.value}" for s in suggest(session, request)).casefold()
            for secret in SECRETS:
                assert secret.casefold() not in shown, (source, who, current, shown)
