"""A moderation case on Discord from the report to the resolution, through the wire-level double.

Members and a moderator click what they would click in the Discord client (the "Report message"
context menu, the buttons under the case card, the modals those open, slash commands); the real
discord.py client and the whole application answer. Each test reads like the case's transcript
and ends with the case log, where every step must be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from chatbridge.adapters.discord import DiscordPlatform
from chatbridge.app import Application
from chatbridge.core import Core
from chatbridge.model import ChatEvent, MessagePosted, ModerationObserved, Privilege
from chatbridge.registry import CommandSpec
from chatbridge.store.tables import ModCase, ModLogEntry, ModNote, Report, Sanction
from support.discord_double import Community, DiscordDouble, events, payloads
from support.discord_double import options as opt
from support.discord_double.options import Option
from support.discord_double.recording import RestCall
from support.discord_double.state import InteractionState
from support.discord_forum import TEST_TUNING, Applied, DiscordForum, discord_settings, forum_post
from support.forum import sqlite_url

EPHEMERAL = payloads.EPHEMERAL_FLAG
MODAL = 9
HOSTILE = "Are you even a real doctor? Nobody should trust your ECG reads."


@contextlib.asynccontextmanager
async def moderated(
    double: DiscordDouble, database_url: str, queue: int, admins: int | None = None
) -> AsyncIterator[DiscordForum]:
    """The application on the double, with the moderators' queue in the channel `queue` (and the
    admins', for cases about moderators, in `admins`)."""
    settings = discord_settings(double, database_url)
    moderation = settings.moderation.model_copy(
        update={
            "queue_room": str(queue),
            "admin_queue_room": str(admins) if admins else None,
            "sweep_seconds": 0.2,
        }
    )
    core = Core.build(settings.model_copy(update={"moderation": moderation}))
    applied = Applied(double.wait_timeout)
    platform = DiscordPlatform(core, tuning=TEST_TUNING, observer=applied)
    app = Application(core, [platform])
    app.outbox.poll_interval = 0.05
    try:
        async with app.running():
            yield DiscordForum(double, core, platform, applied)
    finally:
        core.engine.dispose()


async def answer(double: DiscordDouble, interaction: InteractionState, count: int = 1) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction, count=count)


async def privately(double: DiscordDouble, interaction: InteractionState) -> str:
    """What the bot answered, checked to be for the clicker's eyes only."""
    response = await answer(double, interaction)
    assert response["type"] != MODAL, response
    assert response["data"]["flags"] & EPHEMERAL, response
    return str(response["data"]["content"])


async def modal(double: DiscordDouble, interaction: InteractionState) -> dict[str, Any]:
    """The modal the bot answered with; its text boxes by custom_id."""
    response = await answer(double, interaction)
    assert response["type"] == MODAL, response
    return dict(response["data"])


def inputs(form: dict[str, Any]) -> list[str]:
    return [
        component["custom_id"]
        for row in form["components"]
        for component in row.get("components", [row.get("component")])
    ]


def content(call: RestCall) -> str:
    return str((call.json or {}).get("content", ""))


async def card_reads(double: DiscordDouble, queue: int, text: str) -> RestCall:
    """The bot's post or edit of a message in the queue channel, once one contains `text`."""
    (call, *_) = await double.rest_calls.wait_for(
        lambda c: (
            c.method in ("POST", "PATCH")
            and c.path.startswith(f"/channels/{queue}/messages")
            and c.status < 300
            and text in content(c)
        ),
        description=f"the card saying {text!r}",
    )
    return call


async def dm_to(double: DiscordDouble, user_id: int, text: str) -> str:
    """The bot's direct message to `user_id` containing `text`."""
    channel = double.world.open_dm(user_id)["id"]
    call = await double.wait_for_rest(
        "POST", f"/channels/{channel}/messages", where=lambda c: text in content(c)
    )
    return content(call)


def dms(double: DiscordDouble, user_id: int) -> str:
    channel = double.world.open_dm(user_id)["id"]
    return "\n".join(content(c) for c in double.calls("POST", f"/channels/{channel}/messages"))


def button(card: dict[str, Any], label: str) -> str:
    """The custom_id of the card's button labelled `label`."""
    for row in card["components"]:
        for component in row["components"]:
            if component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no {label!r} button on the card: {card['components']}")


def labels(card: dict[str, Any]) -> list[str]:
    return [c.get("label") for row in card["components"] for c in row["components"]]


def case_steps(forum: DiscordForum, case_id: int) -> list[str]:
    with forum.store() as session:
        entries = session.exec(select(ModLogEntry).order_by(col(ModLogEntry.id))).all()
        return [e.action for e in entries if e.detail.get("case_id") == case_id]


async def test_a_case_from_the_report_menu_to_the_resolution_and_an_appeal(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """The whole case as moderators live it on Discord, across a restart of the bot: the card's
    buttons must keep working, and every step must land in the case log."""
    double = discord_py_on_double
    guild = community.guild
    queue = guild.add_text_channel("mod-queue", topic="Reports, for moderators")
    carol = community.carol
    guild.add_member(carol)
    dave = double.world.add_user("dave", global_name="Dr. Dave")
    guild.add_member(dave)
    alice, bob = community.alice, community.bob
    url = sqlite_url(tmp_path)

    async with moderated(double, url, queue) as forum:
        thread, _ = await double.create_forum_post(
            community.forum, bob, "ECG reading group", "Post your tricky ECGs here."
        )
        hostile = await double.post_message(thread, alice, HOSTILE)
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == hostile["id"])

        # Carol right-clicks the message: Apps → Report message, and fills in the modal.
        reported = await double.use_message_command(
            "Report message", channel_id=thread, message_id=int(hostile["id"]), user_id=carol
        )
        form = await modal(double, reported)
        assert form["title"] == "Report message" and inputs(form) == ["category", "reason"]
        sent = await double.submit_modal(
            reported, {"category": "harassment", "reason": "Questioning a colleague's credentials"}
        )
        assert "Your report is with the moderators as case #1" in await privately(double, sent)
        with forum.store() as session:  # stored before Carol was answered
            assert session.exec(select(Report)).one().reason == "Questioning a colleague's credentials"

        posted = await card_reads(double, queue, "**Case #1 · Harassment** · open")
        card = double.world.message(queue, int(posted.response["id"]))
        assert "About **Alice Adams**" in content(posted) and "1 reporter" in content(posted)
        assert "> Are you even a real doctor?" in content(posted)
        assert "carol" not in content(posted).lower(), "the card never names the reporter"
        assert labels(card) == ["Claim", "Resolve", "Dismiss", "Mute author", "Warn author", "Delete message"]
        assert posted.json["allowed_mentions"] == {"parse": []}

        # Dave reports the same message: one case, two reporters.
        second = await double.use_message_command(
            "Report message", channel_id=thread, message_id=int(hostile["id"]), user_id=dave
        )
        await modal(double, second)
        merged = await double.submit_modal(second, {"category": "harassment"})
        assert "case #1" in await privately(double, merged)
        await card_reads(double, queue, "2 reporters")

    # A new process: the card's buttons still work, from their custom_ids alone.
    async with moderated(double, url, queue) as forum:
        claim = await double.click_button(card, button(card, "Claim"), user_id=bob)
        assert await privately(double, claim) == "Case #1 is yours now."
        await card_reads(double, queue, "· claimed by Dr. Bob")

        warn = await double.click_button(card, button(card, "Warn author"), user_id=bob)
        form = await modal(double, warn)
        assert form["title"] == "Warn author" and inputs(form) == ["points", "reason"]
        warned = await double.submit_modal(warn, {"points": "1", "reason": "Personal attacks on a colleague"})
        assert "Alice Adams" in await privately(double, warned)
        assert "Personal attacks on a colleague" in await dm_to(double, alice, "Personal attacks")

        mute = await double.click_button(card, button(card, "Mute author"), user_id=bob)
        form = await modal(double, mute)
        assert form["title"] == "Mute author" and inputs(form) == ["duration", "reason"]
        before = forum.core.clock()
        muted = await double.submit_modal(mute, {"duration": "2h", "reason": "Pile-on after a warning"})
        assert "Alice Adams" in await privately(double, muted)
        timeout = await double.wait_for_rest("PATCH", f"/guilds/{guild.id}/members/{alice}")
        until = datetime.fromisoformat(timeout.json["communication_disabled_until"])
        assert before + timedelta(hours=2) <= until <= forum.core.clock() + timedelta(hours=2)
        notice = await dm_to(double, alice, "You are muted until")
        assert "Reason: Pile-on after a warning" in notice and "appeal" in notice

        delete = await double.click_button(card, button(card, "Delete message"), user_id=bob)
        assert "no longer counts anywhere on the forum" in await privately(double, delete)
        await double.wait_for_rest("DELETE", f"/channels/{thread}/messages/{hostile['id']}")

        resolve = await double.click_button(card, button(card, "Resolve"), user_id=bob)
        form = await modal(double, resolve)
        assert inputs(form) == ["outcome"]
        resolved = await double.submit_modal(
            resolve, {"outcome": "The post is removed and the author muted for two hours."}
        )
        assert "2 reporters are told the outcome privately" in await privately(double, resolved)
        closed = await card_reads(double, queue, "· resolved")
        assert closed.json["components"] == [], "a closed case has no buttons"
        for reporter in (carol, dave):
            outcome = await dm_to(double, reporter, "About your report (case #1, Harassment)")
            assert "acted: The post is removed and the author muted for two hours." in outcome
            assert "Bob" not in outcome, "no moderator names unless the community reveals them"
        assert "carol" not in dms(double, alice).lower() and "dave" not in dms(double, alice).lower()

        # Alice appeals her mute: the appeal lands on the card and reopens the case.
        appealed = await double.run_slash_command(
            "appeal",
            opt.string("text", "I was rude, but it was one message."),
            user_id=alice,
            channel_id=community.general,
        )
        assert "Your appeal of your mute is with the moderators as case #1" in await privately(
            double, appealed
        )
        await card_reads(double, queue, "“I was rude, but it was one message.”")

        log = await double.run_slash_command(
            "modlog",
            opt.user("member", double.world.user(alice), guild.member(alice)),
            user_id=bob,
            channel_id=community.general,
        )
        history = await privately(double, log)
        for step in (
            "case #1 opened: Harassment",
            "reported: Harassment (case #1)",
            "case #1 claimed by Dr. Bob",
            "warned by Dr. Bob (1 point, 1 active): Personal attacks on a colleague (case #1)",
            "muted by Dr. Bob for 2 h: Pile-on after a warning (case #1)",
            "message deleted by Dr. Bob (case #1)",
            "case #1 resolved by Dr. Bob: The post is removed and the author muted for two hours.",
            "appealed the mute (case #1)",
        ):
            assert step in history, history
        assert "carol" not in history.lower() and "dave" not in history.lower()

        assert case_steps(forum, 1) == [
            "case_opened",
            "report",
            "report",
            "case_claimed",
            "warn",
            "mute",
            "message_deleted",
            "case_resolved",
            "appeal",
        ]
        with forum.store() as session:
            case = session.get(ModCase, 1)
            assert case is not None and case.status == "open", "an appeal reopens its case"


async def test_timeouts_given_by_hand_are_in_the_case_log_once_and_the_bots_own_are_not_doubled(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Moderators also use Discord's own Timeout menu; the case log must show those too, once
    each, while the bot's own timeouts (which Discord also audits) stay single entries."""
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    queue = guild.add_text_channel("mod-queue")

    def hand_action(event: ChatEvent) -> bool:
        return isinstance(event, ModerationObserved)

    async with moderated(double, sqlite_url(tmp_path), queue) as forum:
        await forum_post(forum, community.forum, alice, "Night shifts", "Any tips?")

        # Bob mutes through the bot: its own timeout shows up in the audit log too.
        muted = await double.run_slash_command(
            "mute",
            opt.user("member", double.world.user(alice), guild.member(alice)),
            opt.string("duration", "1h"),
            opt.string("reason", "Cooling off"),
            user_id=bob,
            channel_id=community.general,
        )
        assert "Alice Adams" in await privately(double, muted)
        await double.wait_for_rest("PATCH", f"/guilds/{guild.id}/members/{alice}")
        bots_entry = guild.audit_log[-1]
        assert bots_entry["user_id"] == str(double.world.bot_id)

        # Then a moderator uses Discord's own menu: Timeout, and later Remove Timeout.
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        by_hand = await double.timeout_by_hand(guild.id, bob, alice, until, reason="Second pile-on")
        (seen,) = await forum.applied.wait(hand_action)
        assert isinstance(seen, ModerationObserved) and seen.actor_user_id == str(bob)
        await double.dispatch(  # the gateway replays the entry after a resume
            "GUILD_AUDIT_LOG_ENTRY_CREATE", events.guild_audit_log_entry_create(guild.id, by_hand)
        )
        await double.timeout_by_hand(guild.id, bob, alice, None)
        await forum.applied.wait(hand_action, count=3)

        with forum.store() as session:
            by_platform = session.exec(
                select(ModLogEntry).where(ModLogEntry.source == "platform").order_by(col(ModLogEntry.id))
            ).all()
            assert [(e.action, e.detail.get("reason")) for e in by_platform] == [
                ("hand_mute", "Second pile-on"),
                ("hand_unmute", None),
            ]
            assert by_platform[0].detail["until"] == until.isoformat()
            mutes = session.exec(select(ModLogEntry).where(ModLogEntry.action == "mute")).all()
            assert len(mutes) == 1, "the bot's own timeout is logged once, when it decided it"

        log = await double.run_slash_command(
            "modlog",
            opt.user("member", double.world.user(alice), guild.member(alice)),
            user_id=bob,
            channel_id=community.general,
        )
        history = await privately(double, log)
        assert "muted by hand on Discord by Dr. Bob until" in history
        assert ": Second pile-on" in history
        assert "mute lifted by hand on Discord by Dr. Bob" in history
        assert "muted by Dr. Bob for 1 h: Cooling off" in history

        # A member the forum has never seen is found by the raw id the audit log gave.
        stranger = double.world.add_user("erin")
        await double.member_joins(guild.id, stranger, dispatch=False)
        await double.timeout_by_hand(guild.id, bob, stranger, until)
        await forum.applied.wait(hand_action, count=4)
        raw = await double.run_slash_command(
            "modlog", opt.string("member", str(stranger)), user_id=bob, channel_id=community.general
        )
        assert "muted by hand on Discord by Dr. Bob" in await privately(double, raw)


SAMPLES = {"case": "1", "duration": "1h", "points": "1", "outcome": "done", "reason": "because"}


def slash_options(spec: CommandSpec, member: Option) -> list[Option]:
    """The command's options filled with harmless samples, as the Discord client would send them."""
    filled: list[Option] = []
    for param in spec.params:
        if param.kind == "member":
            filled.append(member)
        elif param.kind == "int":
            filled.append(opt.integer(param.name, param.min_value or 1))
        else:
            value = param.choices[0] if param.choices else SAMPLES.get(param.name, "sample")
            filled.append(opt.string(param.name, value))
    if len(spec.path) == 1:
        return filled
    if len(spec.path) == 2:
        return [opt.subcommand(spec.path[1], *filled)]
    return [opt.subcommand_group(spec.path[1], opt.subcommand(spec.path[2], *filled))]


async def card_recorded(forum: DiscordForum, case_id: int) -> None:
    """Wait until the bot has stored where the case's card is (just after posting it)."""
    async with asyncio.timeout(forum.double.wait_timeout):
        while True:
            with forum.store() as session:
                case = session.get(ModCase, case_id)
                if case is not None and case.queue_message_id is not None:
                    return
            await asyncio.sleep(0.02)


def moderation_rows(forum: DiscordForum) -> list[object]:
    with forum.store() as session:
        return [
            tuple(row)
            for table in (ModCase, Report, Sanction, ModLogEntry, ModNote)
            for row in session.exec(select(table).order_by(col(table.id))).all()  # type: ignore[attr-defined]
        ]


async def test_every_moderator_command_and_card_button_is_refused_to_a_member(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A member can reach a card's buttons and any slash command (servers can override command
    permissions); each must be refused in words, with no form shown and nothing changed."""
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    queue = guild.add_text_channel("mod-queue")
    mallory = double.world.add_user("mallory")
    guild.add_member(mallory)
    async with moderated(double, sqlite_url(tmp_path), queue) as forum:
        thread, _ = await double.create_forum_post(community.forum, bob, "Night shifts", "Any tips?")
        hostile = await double.post_message(thread, mallory, HOSTILE)
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == hostile["id"])
        reported = await double.use_message_command(
            "Report message", channel_id=thread, message_id=int(hostile["id"]), user_id=alice
        )
        await modal(double, reported)
        await double.submit_modal(reported, {"category": "harassment"})
        posted = await card_reads(double, queue, "**Case #1 · Harassment** · open")
        card = double.world.message(queue, int(posted.response["id"]))
        await card_recorded(forum, 1)
        before = moderation_rows(forum)

        for label in labels(card):
            pressed = await double.click_button(card, button(card, label), user_id=alice)
            assert "is for moderators." in await privately(double, pressed), label

        specs = [s for s in forum.core.registry if s.privilege >= Privilege.MODERATOR]
        assert {"case claim", "case resolve", "case mute", "mute", "unmute", "warn", "modlog", "note"} <= {
            s.name for s in specs
        }
        target = opt.user("member", double.world.user(mallory), guild.member(mallory))
        for spec in specs:
            ran = await double.run_slash_command(
                spec.path[0], *slash_options(spec, target), user_id=alice, channel_id=community.general
            )
            refusal = f"`/{spec.name}` is for {spec.privilege.name.lower()}s."  # in slash syntax
            assert await privately(double, ran) == refusal, spec.name

        assert moderation_rows(forum) == before, "a refused command changed nothing"
        assert not double.calls("PATCH", f"/guilds/{guild.id}/members/{{user_id}}")


async def test_a_report_names_the_author_outside_threads_and_one_about_a_moderator_goes_to_admins(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Most chat happens outside forum threads, and a report about a moderator must never land
    in front of that moderator."""
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    queue, admins = guild.add_text_channel("mod-queue"), guild.add_text_channel("admins")
    mallory = double.world.add_user("mallory")
    guild.add_member(mallory)
    async with moderated(double, sqlite_url(tmp_path), queue, admins) as forum:
        # A message in #general, which the forum does not keep as a post.
        chatter = await double.post_message(community.general, mallory, HOSTILE)
        reported = await double.use_message_command(
            "Report message", channel_id=community.general, message_id=int(chatter["id"]), user_id=alice
        )
        await modal(double, reported)
        filed = await double.submit_modal(reported, {"category": "harassment"})
        assert "with the moderators as case #1" in await privately(double, filed)
        card = await card_reads(double, queue, "**Case #1 · Harassment** · open")
        assert "About **mallory**" in content(card) and "No earlier cases about mallory" in content(card)
        assert "Mute author" in labels(double.world.message(queue, int(card.response["id"])))

        # Bob moderates: a report about him is for the admins, and never shows in his queue.
        thread = await forum_post(forum, community.forum, bob, "Statins", "Stop them all at 75.")
        about_bob = await double.use_message_command(
            "Report message", channel_id=thread, message_id=thread, user_id=alice
        )
        await modal(double, about_bob)
        filed = await double.submit_modal(about_bob, {"category": "misinformation"})
        assert "with the admins as case #2" in await privately(double, filed)
        escalated = await card_reads(double, admins, "**Case #2 · Misinformation** · open")
        assert "For the admins: this case is about a moderator." in content(escalated)
        assert not [c for c in double.calls("POST", f"/channels/{queue}/messages") if "Case #2" in content(c)]

        # A member who never wrote in the forum, reported as a whole: Apps → Report member.
        erin = double.world.add_user("erin")
        guild.add_member(erin)
        menu = await double.use_user_command(
            "Report member", target_id=erin, channel_id=community.general, user_id=alice
        )
        form = await modal(double, menu)
        assert form["title"] == "Report member" and inputs(form) == ["category", "reason"]
        filed = await double.submit_modal(menu, {"category": "spam", "reason": "DMs selling supplements"})
        assert "with the moderators as case #3" in await privately(double, filed)
        member_case = await card_reads(double, queue, "**Case #3 · Spam** · open")
        assert "About **erin**" in content(member_case) and "selling supplements" in content(member_case)
        assert "Delete message" not in labels(double.world.message(queue, int(member_case.response["id"])))

        queued = await double.run_slash_command("queue", user_id=bob, channel_id=community.general)
        listing = await privately(double, queued)
        assert "#1" in listing and "#3" in listing and "#2" not in listing


async def test_a_muted_member_who_leaves_and_rejoins_is_timed_out_again(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Leaving and coming back must not shed a mute."""
    double = discord_py_on_double
    guild, alice, bob = community.guild, community.alice, community.bob
    queue = guild.add_text_channel("mod-queue")
    member_path = f"/guilds/{guild.id}/members/{alice}"
    async with moderated(double, sqlite_url(tmp_path), queue) as forum:
        muted = await double.run_slash_command(
            "mute",
            opt.user("member", double.world.user(alice), guild.member(alice)),
            opt.string("duration", "1d"),
            opt.string("reason", "Harassing a colleague"),
            user_id=bob,
            channel_id=community.general,
        )
        assert "Alice Adams" in await privately(double, muted)
        first = await double.wait_for_rest("PATCH", member_path)

        await double.member_leaves(guild.id, alice)
        await double.member_joins(guild.id, alice)  # she comes back without the timeout
        again = await double.wait_for_rest("PATCH", member_path, count=2)
        assert again.json["communication_disabled_until"] == first.json["communication_disabled_until"]
        assert guild.member(alice)["communication_disabled_until"] is not None
        assert case_steps_of(forum, "mute_reapplied") == 1


def case_steps_of(forum: DiscordForum, action: str) -> int:
    with forum.store() as session:
        return len(session.exec(select(ModLogEntry).where(ModLogEntry.action == action)).all())


async def test_a_typed_report_is_deleted_once_stored(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A typed `!report` is a message the whole channel reads: once the report is stored the bot
    deletes it, so nobody reads who reported whom, nor why (menus and slash commands are never
    shown to others)."""
    double = discord_py_on_double
    queue = community.guild.add_text_channel("mod-queue", topic="Reports, for moderators")
    community.guild.add_member(community.carol)
    async with moderated(double, sqlite_url(tmp_path), queue) as forum:
        thread, _ = await double.create_forum_post(
            community.forum, community.bob, "ECG reading group", "Post your tricky ECGs here."
        )
        hostile = await double.post_message(thread, community.alice, HOSTILE)
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.message_id == hostile["id"])

        typed = await double.post_message(
            thread, community.carol, "!report harassment questioning credentials", reply_to=int(hostile["id"])
        )
        await dm_to(double, community.carol, "Your report is with the moderators as case #1")
        await double.wait_for_rest("DELETE", f"/channels/{thread}/messages/{typed['id']}")
        assert int(typed["id"]) not in double.world.messages[thread]
        with forum.store() as session:
            assert session.exec(select(Report)).one().reason == "questioning credentials"
