"""A moderation case on Matrix from the report to the resolution, on a real Synapse.

Members type what they would type in Element: `!report` as a reply to the message, and the
moderator's commands as replies to the case card in the moderators' room (or a reaction on the
card for the actions that need no words: 1️⃣ Claim, 2️⃣ Dismiss, 3️⃣ Delete message). The bot answers
privately in direct chats (Matrix cannot show a message to one person in a shared room), edits
the card as the case moves, changes power levels to mute, and redacts the reported message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nio import (
    AsyncClient,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomPreset,
    RoomPutStateResponse,
    SyncResponse,
)
from sqlmodel import col, select

from chatbridge.model import Privilege
from chatbridge.registry import CommandSpec
from chatbridge.sandbox import Homeserver
from chatbridge.store.tables import ModCase, ModLogEntry, ModNote, Report, Sanction
from support.matrix_forum import WAIT, Forum, Member, body, open_forum, set_power

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]
Event = dict[str, Any]
_FILTER = {
    "room": {"timeline": {"limit": 100}, "state": {"lazy_load_members": True}},
    "presence": {"types": []},
}


class Inbox:
    """Everything a member's client has seen since it was made, so no wait skips an event that
    arrived in the same sync batch as the one an earlier wait was for."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.events: list[tuple[str, Event]] = []
        self._since: str | None = None

    async def start(self) -> None:
        response = await self.member.client.sync(timeout=0, sync_filter=_FILTER)
        assert isinstance(response, SyncResponse), response

    async def find(self, wanted: Callable[[str, Event], bool], what: str) -> Event:
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    for room_id, event in self.events:
                        if wanted(room_id, event):
                            return event
                    await self._sync()
        except TimeoutError:
            said = [e for _, e in self.events if e.get("type") == "m.room.message"]
            seen = "\n".join(f"{e.get('sender')}: {body(e)[:200]!r}" for e in said[-8:])
            raise AssertionError(f"{self.member.user_id} never saw {what}; last events:\n{seen}") from None

    async def _sync(self) -> None:
        response = await self.member.client.sync(timeout=2_000, sync_filter=_FILTER)
        assert isinstance(response, SyncResponse), response
        for room_id in response.rooms.invite:
            await self.member.join(room_id)  # the bot's direct chat
        for room_id, info in response.rooms.join.items():
            self.events += [(room_id, getattr(e, "source", {})) for e in info.timeline.events]

    async def from_bot(self, bot: str, text: str, *, room_id: str | None = None) -> Event:
        """The bot's message (or edit) containing `text`."""
        return await self.find(
            lambda where, e: (
                e.get("sender") == bot
                and e.get("type") == "m.room.message"
                and (room_id is None or where == room_id)
                and text in body(e)
            ),
            f"the bot saying {text!r}",
        )


async def moderators_room(forum: Forum, moderators: list[Member]) -> str:
    """A "Moderators" room in the space, as the owner makes it in Element."""
    owner = forum.dana.client
    made = await owner.room_create(name="Moderators", preset=RoomPreset.public_chat)
    assert isinstance(made, RoomCreateResponse), made
    await set_power(owner, made.room_id, forum.bot.user_id, 100)
    server = owner.user_id.split(":", 1)[1]
    linked = await owner.room_put_state(
        forum.community.space_id, "m.space.child", {"via": [server], "order": "99"}, state_key=made.room_id
    )
    assert isinstance(linked, RoomPutStateResponse), linked
    for member in moderators:
        await member.join(made.room_id)
        await set_power(owner, made.room_id, member.user_id, 50)
    return str(made.room_id)


async def level_of(forum: Forum, room_id: str, user_id: str) -> int | None:
    response = await forum.dana.client.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(response, RoomGetStateEventResponse), response
    users: dict[str, int] = response.content.get("users", {})
    return users.get(user_id)


async def test_a_case_from_a_reply_report_to_the_resolution_with_every_step_logged(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    """The whole case as moderators live it in Element, with every step in the case log."""
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, general, space = forum.bot, forum.general, forum.community.space_id
    alice, bob = forum.alice, forum.bob
    mallory = Member(await make_member("mallory"))
    for room_id in (space, *forum.community.rooms.values()):
        await mallory.join(room_id)
        await set_power(forum.dana.client, room_id, bob.user_id, 50)  # bob moderates
    queue = await moderators_room(forum, [bob])
    await mallory.join(queue)
    bot.settings_extra = {"moderation": {"queue_room": queue, "sweep_seconds": 0.2}}
    inbox = {name: Inbox(m) for name, m in (("alice", alice), ("bob", bob), ("mallory", mallory))}
    for each in inbox.values():
        await each.start()

    async with bot.running():
        root = await alice.say(general, "Night shifts: how do you stay sharp at 4 am?")
        hostile = await mallory.say(
            general, "Are you even a real doctor? Sleep is for amateurs.", thread=root
        )
        await bot.caught_up(hostile)

        await alice.say(
            general, "!report harassment questioning my credentials", thread=root, reply_to=hostile
        )
        receipt = await inbox["alice"].from_bot(bot.user_id, "Your report is with the moderators as case #1")
        assert body(receipt)

        card = await inbox["bob"].from_bot(bot.user_id, "Case #1 · Harassment · open", room_id=queue)
        assert "About mallory" in body(card) and "1 reporter" in body(card)
        assert "Are you even a real doctor?" in body(card)
        assert "alice" not in body(card), "the card never names the reporter"
        card_id = card["event_id"]

        # Matrix has no buttons: the card offers its one-step actions as reactions.
        assert "React with 1️⃣ Claim · 2️⃣ Dismiss · 3️⃣ Delete message" in body(card)
        await bob.react(queue, card_id, "1️⃣")
        await inbox["bob"].from_bot(bot.user_id, "Case #1 is yours now.")
        await inbox["bob"].from_bot(bot.user_id, "· claimed by bob", room_id=queue)

        await bob.say(queue, "!case warn this 1 Personal attacks on a colleague", reply_to=card_id)
        await inbox["mallory"].from_bot(bot.user_id, "Personal attacks on a colleague")

        await bob.say(queue, "!case mute this 1h Pile-on after a warning", reply_to=card_id)
        notice = await inbox["mallory"].from_bot(bot.user_id, "You are muted until")
        assert "Reason: Pile-on after a warning" in body(notice)
        for room_id in forum.community.rooms.values():
            assert await level_of(forum, room_id, mallory.user_id) == -1

        await bob.say(queue, "!case delete this", reply_to=card_id)
        await inbox["alice"].find(
            lambda where, e: e.get("type") == "m.room.redaction" and e.get("redacts") == hostile,
            "the reported message redacted",
        )

        await bob.say(queue, "!case resolve this The post is removed and the author muted.", reply_to=card_id)
        resolved = await inbox["bob"].from_bot(bot.user_id, "1 reporter is told the outcome privately")
        assert body(resolved)
        outcome = await inbox["alice"].from_bot(bot.user_id, "About your report (case #1, Harassment)")
        assert "acted: The post is removed and the author muted." in body(outcome)
        assert "bob" not in body(outcome), "no moderator names unless the community reveals them"
        await inbox["bob"].from_bot(bot.user_id, "· resolved", room_id=queue)
        await bob.react(queue, card_id, "2️⃣")  # too late to dismiss: a polite no, nothing changes
        await inbox["bob"].from_bot(bot.user_id, "Case #1 is already resolved.")

        await bob.say(queue, f"!modlog {mallory.user_id}")
        log = body(await inbox["bob"].from_bot(bot.user_id, "Case log of mallory"))
        for step in (
            "case #1 opened: Harassment",
            "reported: Harassment (case #1)",
            "case #1 claimed by bob",
            "warned by bob (1 point, 1 active): Personal attacks on a colleague (case #1)",
            "muted by bob for 1 h: Pile-on after a warning (case #1)",
            "message deleted by bob (case #1)",
            "case #1 resolved by bob: The post is removed and the author muted.",
        ):
            assert step in log, log
        assert "alice" not in log

        with bot.store() as session:
            case = session.get(ModCase, 1)
            assert case is not None and case.status == "resolved"
            steps = [
                e.action
                for e in session.exec(select(ModLogEntry).order_by(col(ModLogEntry.id))).all()
                if e.detail.get("case_id") == 1
            ]
        assert steps == [
            "case_opened",
            "report",
            "case_claimed",
            "warn",
            "mute",
            "message_deleted",
            "case_resolved",
        ]


async def set_level(forum: Forum, room_id: str, user_id: str, level: int | None) -> str:
    """What a room admin does in Element's member panel; returns the power-levels event id."""
    owner = forum.dana.client
    current = await owner.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(current, RoomGetStateEventResponse), current
    users = {u: v for u, v in current.content.get("users", {}).items() if u != user_id}
    if level is not None:
        users[user_id] = level
    changed = await owner.room_put_state(room_id, "m.room.power_levels", {**current.content, "users": users})
    assert isinstance(changed, RoomPutStateResponse), changed
    return str(changed.event_id)


async def test_power_levels_changed_by_hand_are_in_the_case_log_and_the_bots_own_are_not_doubled(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    """Room admins also silence members from Element's member panel; the case log must show
    it, while the bot's own power-level changes stay single entries."""
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, general, alice, dana = forum.bot, forum.general, forum.alice, forum.dana
    dana_inbox = Inbox(dana)
    await dana_inbox.start()

    async with bot.running():
        root = await alice.say(general, "Morning all: who is on nights this week?")
        await bot.caught_up(await dana.say(general, "I am, with the new registrars.", thread=root))

        # Dana, a room admin, silences Alice in General from Element, then lets her speak again.
        await bot.caught_up(await set_level(forum, general, alice.user_id, -1))
        await bot.caught_up(await set_level(forum, general, alice.user_id, None))

        # Then she mutes through the bot: the bot's own power-level changes are logged once.
        await dana.say(general, f"!mute {alice.user_id} 1h Cooling off")
        await dana_inbox.from_bot(bot.user_id, "muted until")
        bots_changes = []
        for room_id in forum.community.rooms.values():
            change = await dana_inbox.find(
                lambda where, e, room_id=room_id: (
                    where == room_id
                    and e.get("sender") == bot.user_id
                    and e.get("type") == "m.room.power_levels"
                ),
                f"the bot's mute in {room_id}",
            )
            bots_changes.append(change["event_id"])
        await bot.caught_up(*bots_changes)

        with bot.store() as session:
            by_platform = session.exec(
                select(ModLogEntry).where(ModLogEntry.source == "platform").order_by(col(ModLogEntry.id))
            ).all()
            assert [
                (e.action, e.detail["room_id"], e.detail["by_platform_user_id"]) for e in by_platform
            ] == [
                ("hand_mute", general, dana.user_id),
                ("hand_unmute", general, dana.user_id),
            ]
            mutes = session.exec(select(ModLogEntry).where(ModLogEntry.action == "mute")).all()
            assert len(mutes) == 1, "the bot's own mute is logged once, when it decided it"

        await dana.say(general, f"!modlog {alice.user_id}")
        log = body(await dana_inbox.from_bot(bot.user_id, "Case log of alice"))
        assert "muted by hand on Matrix by dana" in log
        assert "mute lifted by hand on Matrix by dana" in log
        assert "muted by dana for 1 h: Cooling off" in log


SAMPLES = {"case": "1", "duration": "1h", "points": "1", "outcome": "done", "reason": "because"}


def typed(spec: CommandSpec, member: str) -> str:
    """The command as a member would type it, with harmless samples for its options."""
    words = [*spec.path]
    for param in spec.params:
        if param.kind == "member":
            words.append(member)
        elif param.kind == "int":
            words.append(str(param.min_value or 1))
        else:
            words.append(param.choices[0] if param.choices else SAMPLES.get(param.name, "sample"))
    return "!" + " ".join(words)


def moderation_rows(forum: Forum) -> list[object]:
    with forum.bot.store() as session:
        return [
            tuple(row)
            for table in (ModCase, Report, Sanction, ModLogEntry, ModNote)
            for row in session.exec(select(table).order_by(col(table.id))).all()  # type: ignore[attr-defined]
        ]


async def test_every_moderator_command_is_refused_to_a_member(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    """Anyone can type a moderator command in a room; each must be refused in words and change
    nothing."""
    forum = await open_forum(homeserver, make_member, tmp_path)
    bot, general, alice, bob = forum.bot, forum.general, forum.alice, forum.bob
    inbox = Inbox(alice)
    await inbox.start()
    async with bot.running():
        root = await bob.say(general, "Night shifts: any tips?")
        hostile = await forum.dana.say(general, "Sleep is for amateurs.", thread=root)
        await alice.say(general, "!report harassment", thread=root, reply_to=hostile)
        # Dana runs the community (power 100): a report about her goes to the admins.
        await inbox.from_bot(bot.user_id, "Your report is with the admins as case #1")
        before = moderation_rows(forum)

        assert bot.core is not None
        specs = [s for s in bot.core.registry if s.privilege >= Privilege.MODERATOR]
        assert {"case claim", "case resolve", "case mute", "mute", "unmute", "warn", "modlog", "note"} <= {
            s.name for s in specs
        }
        for spec in specs:
            await alice.say(general, typed(spec, bob.user_id), thread=root, reply_to=hostile)
            await inbox.from_bot(bot.user_id, f"`!{spec.name}` is for {spec.privilege.name.lower()}s.")

        assert moderation_rows(forum) == before, "a refused command changed nothing"
        assert await level_of(forum, general, bob.user_id) is None
