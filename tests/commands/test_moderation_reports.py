"""Reports, from the member who reports, through the moderators' queue, to the outcome they are told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from chatbridge.adapters.memory import MemoryPlatform, Said
from chatbridge.registry import ContextMenu, Registry
from chatbridge.store.tables import REPORT_CATEGORIES, ModCase, ModLogEntry, Post, Report, Thread
from support.forum import sqlite_url, texts
from support.moderation import ModForum, moderated_forum


@pytest.fixture
async def forum(migrated_database_url: str) -> AsyncIterator[ModForum]:
    """On SQLite and PostgreSQL: the case log's JSON and the rate limit's aggregates run on both."""
    async with moderated_forum(migrated_database_url) as running:
        yield running


async def hostile_reply(chat: MemoryPlatform, text: str = "Are you even a real doctor?") -> tuple[str, str]:
    """A thread by alice with a reply by mallory; returns (thread id, mallory's message id)."""
    if not chat.newest_thread():
        await chat.say('!thread new "Night shifts" Any tips for the first month of nights?', as_="alice")
    thread = chat.thread("Night shifts")
    await chat.say(text, as_="mallory", thread=thread)
    return thread, chat.last_message_id("mallory")


def only_for(replies: list[Said], name: str) -> str:
    assert replies, "the bot said nothing"
    assert all(r.ephemeral_for == name for r in replies), [r.text for r in replies]
    return texts(replies)


async def test_a_case_from_report_to_resolution_with_every_step_in_the_case_log(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)

    ack = await chat.say(
        "!report harassment questioning a colleague's credentials",
        as_="alice",
        thread=thread,
        reply_to=hostile,
    )
    assert "Your report is with the moderators as case #1" in only_for(ack, "alice")
    with forum.store() as session:  # stored before the reporter was answered
        assert session.exec(select(Report)).one().reason == "questioning a colleague's credentials"

    await forum.settle()
    card = forum.card(1)
    assert forum.in_room("Moderators") == [card]
    assert "**Case #1 · Harassment** · open" in card
    assert "About **mallory** in thread #1 “Night shifts” · 1 reporter" in card
    assert "> Are you even a real doctor?" in card
    assert (
        f"[Open the message in context](<https://chat.example/console/general-discussion/{hostile}>)" in card
    )
    assert "alice" not in card, "the card never names the reporter"

    assert "Case #1 is yours now." in only_for(await chat.say("!case claim 1", as_="mo"), "mo")
    await forum.settle()
    assert "· claimed by mo" in forum.card(1)

    await chat.say("!case warn 1 2 questioning credentials is harassment here", as_="mo")
    deleted = await chat.say("!case delete 1", as_="mo")
    assert "no longer counts anywhere on the forum" in only_for(deleted, "mo")
    resolved = await chat.say("!case resolve 1 Removed the post and warned the member.", as_="mo")
    assert "1 reporter is told the outcome privately, without your name" in only_for(resolved, "mo")
    await forum.settle()

    assert chat.removed == {hostile: "case #1 (harassment)"}
    with forum.store() as session:
        assert session.exec(select(Post).where(Post.platform_message_id == hostile)).one().deleted_at
        assert session.exec(select(Thread)).one().reply_count == 0
        case = session.get(ModCase, 1)
        assert case is not None and (case.status, case.outcome) == (
            "resolved",
            "Removed the post and warned the member.",
        )
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
        "message_deleted",
        "case_resolved",
    ]
    card = forum.card(1)
    assert "**Case #1 · Harassment** · resolved" in card
    assert "The message was deleted" in card and "real doctor" not in card
    assert "Outcome: Removed the post and warned the member." in card
    assert len(forum.in_room("Moderators")) == 1, "the card is edited, never posted twice"

    outcome = forum.dms("alice")
    assert "About your report (case #1, Harassment)" in outcome
    assert "acted: Removed the post and warned the member." in outcome
    assert "mo" not in outcome.split(), "no moderator names unless the community reveals them"
    assert "alice" not in forum.dms("mallory"), "the reported member never learns who reported"

    log = only_for(await chat.say("!modlog mallory", as_="mo"), "mo")
    assert "case #1 resolved by mo: Removed the post and warned the member." in log
    assert "message deleted by mo (case #1)" in log
    assert "warned by mo (2 points, 2 active)" in log
    assert "reported: Harassment (case #1)" in log and "alice" not in log


async def test_reports_of_one_message_merge_into_one_case(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)
    for who, category in (("alice", "harassment"), ("bob", "harassment"), ("carol", "misinformation")):
        reply = await chat.say(f"!report {category}", as_=who, thread=thread, reply_to=hostile)
        assert "case #1" in only_for(reply, who)
    again = await chat.say("!report spam", as_="alice", thread=thread, reply_to=hostile)
    assert "You already reported this; it is case #1" in only_for(again, "alice")
    await forum.settle()

    with forum.store() as session:
        assert len(session.exec(select(ModCase)).all()) == 1
        assert len(session.exec(select(Report)).all()) == 3
    card = forum.card(1)
    assert "3 reporters (Harassment 2, Misinformation 1)" in card
    assert len(forum.in_room("Moderators")) == 1
    queue = texts(await chat.say("!queue", as_="mo"))
    assert "**#1** Harassment · about mallory · 3 reporters · open" in queue


async def test_a_closed_case_is_not_reopened_by_a_new_report(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)
    await chat.say("!report spam", as_="alice", thread=thread, reply_to=hostile)
    await chat.say("!case dismiss 1 a joke between friends", as_="mo")
    await chat.say("!report harassment", as_="bob", thread=thread, reply_to=hostile)
    await forum.settle()
    with forum.store() as session:
        assert [c.status for c in session.exec(select(ModCase).order_by(col(ModCase.id))).all()] == [
            "dismissed",
            "open",
        ]
    told = forum.dms("alice")
    assert "decided no action was needed" in told
    assert "a joke between friends" not in told, "a dismissal note stays in the case log"
    assert "Earlier cases about mallory: #1 (dismissed)" in forum.card(2)


async def test_reports_are_rate_limited_per_reporter_with_a_clear_message(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path), report_limit=2, report_window_minutes=60) as forum:
        chat = forum.chat
        messages = [await hostile_reply(chat, f"rude remark {n}") for n in range(4)]
        for thread, message in messages[:2]:
            await chat.say("!report harassment", as_="alice", thread=thread, reply_to=message)
        chat.advance(timedelta(minutes=30))
        thread, third = messages[2]
        refused = only_for(
            await chat.say("!report spam", as_="alice", thread=thread, reply_to=third), "alice"
        )
        assert "You have sent 2 reports in the last 1 h" in refused
        assert "this one was not filed. You can report again after Jul 16, 2025 10:00 UTC" in refused
        assert "contact a moderator directly" in refused
        with forum.store() as session:
            assert len(session.exec(select(Report)).all()) == 2

        others = await chat.say("!report spam", as_="bob", thread=thread, reply_to=third)
        assert "case #3" in texts(others), "the limit is per reporter"
        chat.advance(timedelta(minutes=31))
        later = await chat.say("!report spam", as_="alice", thread=thread, reply_to=messages[3][1])
        assert "Your report is with the moderators" in texts(later)


async def test_a_report_about_a_moderator_goes_to_the_admins(forum: ModForum) -> None:
    chat = forum.chat
    thread, _ = await hostile_reply(chat)
    await chat.say("Residents who ask this are lazy.", as_="max", thread=thread)
    by_moderator = chat.last_message_id("max")

    ack = await chat.say("!report harassment", as_="alice", thread=thread, reply_to=by_moderator)
    assert "Your report is with the admins as case #1" in only_for(ack, "alice")
    await forum.settle()

    assert forum.in_room("Moderators") == []
    assert forum.in_room("Admins") == [forum.card(1)]
    assert "For the admins: this case is about a moderator." in forum.card(1)
    assert forum.case(1).escalated_to_admins
    assert "No open cases." in texts(await chat.say("!queue", as_="mo"))
    assert "There is no case #1 here." in texts(await chat.say("!case claim 1", as_="mo"))
    assert "No open cases." in texts(await chat.say("!queue", as_="max")), "max never sees his own case"
    assert "There is no case #1 here." in texts(await chat.say("!case claim 1", as_="max"))
    assert "**#1** Harassment · about max" in texts(await chat.say("!queue", as_="ada"))
    assert "Case #1 is yours now." in texts(await chat.say("!case claim 1", as_="ada"))


async def test_bad_input_gets_a_polite_answer_and_nothing_is_stored(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)
    typo = only_for(
        await chat.say("!report harasment rude", as_="alice", thread=thread, reply_to=hostile), "alice"
    )
    assert "category must be one of harassment, misinformation, patient_privacy, spam, other" in typo
    assert "Usage: `!report <harassment|misinformation|patient_privacy|spam|other> [reason…]`" in typo
    not_a_reply = only_for(await chat.say("!report spam", as_="alice", thread=thread), "alice")
    assert "Use `!report` as a reply to the message you mean." in not_a_reply
    nobody = only_for(await chat.say("!report member nobody spam keeps posting ads", as_="alice"), "alice")
    assert "I can't find a member called 'nobody' here." in nobody
    no_reason = only_for(await chat.say("!report member mallory spam", as_="alice"), "alice")
    assert "needs <reason…>" in no_reason
    await chat.say("My own reply", as_="alice", thread=thread)
    own = only_for(
        await chat.say("!report spam", as_="alice", thread=thread, reply_to=chat.last_message_id("alice")),
        "alice",
    )
    assert "That's your own message." in own
    with forum.store() as session:
        assert session.exec(select(ModCase)).all() == []
        assert session.exec(select(Report)).all() == []


async def test_a_patient_privacy_report_is_not_copied_onto_the_card(forum: ModForum) -> None:
    chat = forum.chat
    thread, leak = await hostile_reply(chat, "Bed 4, Mrs J. Smith, DOB 03/02/1961, MRN 448812: any ideas?")
    await chat.say(
        "!report patient_privacy names and a record number", as_="alice", thread=thread, reply_to=leak
    )
    await forum.settle()
    card = forum.card(1)
    assert "Patient privacy" in card and "Not quoted here" in card
    assert "448812" not in card and "Smith" not in card
    assert "names and a record number" not in card, "reasons often repeat the details"
    assert "Open the message in context" in card


async def test_reporting_a_member_and_a_message_outside_threads(forum: ModForum) -> None:
    chat = forum.chat
    await chat.join("mallory")
    first = await chat.say("!report member mallory harassment sends me insults in DMs", as_="alice")
    assert "case #1" in texts(first)
    await chat.say("!report member mallory harassment same here", as_="bob")
    await chat.say("buy cheap scrubs at spam.example", as_="spammer")  # in the channel, not a thread
    ad = chat.last_message_id("spammer")
    await chat.say("!report spam", as_="alice", reply_to=ad)
    await chat.say("!report spam ads again", as_="bob", reply_to=ad)
    await forum.settle()

    with forum.store() as session:
        cases = session.exec(select(ModCase).order_by(col(ModCase.id))).all()
        assert [
            (c.id, len(session.exec(select(Report).where(Report.case_id == c.id)).all())) for c in cases
        ] == [
            (1, 2),
            (2, 2),
        ]
    member_card = forum.card(1)
    assert "About **mallory** · 2 reporters" in member_card
    assert "- “sends me insults in DMs”" in member_card and "Open the message" not in member_card
    assert "about a member, not a message" in texts(await chat.say("!case delete 1", as_="mo"))
    ad_card = forum.card(2)
    assert "About **an unknown member** · 2 reporters" in ad_card
    assert f"/general-discussion/{ad}>)" in ad_card
    assert "has no known member" in texts(await chat.say("!case mute 2 1h", as_="mo"))


async def test_moderators_act_by_replying_to_the_card(forum: ModForum) -> None:
    chat = forum.chat
    thread, hostile = await hostile_reply(chat)
    await chat.say("!report harassment", as_="alice", thread=thread, reply_to=hostile)
    await forum.settle()
    card_id = forum.case(1).queue_message_id
    assert card_id is not None
    claimed = await chat.say("!case claim this", as_="mo", in_="Moderators", reply_to=card_id)
    assert "Case #1 is yours now." in texts(claimed)
    assert "isn't a case card" in texts(await chat.say("!case claim this", as_="mo", reply_to=hostile))
    assert "There is no case #9 here." in texts(await chat.say("!case claim 9", as_="mo"))


async def test_the_card_shows_the_members_earlier_cases(forum: ModForum) -> None:
    chat = forum.chat
    thread, first = await hostile_reply(chat)
    await chat.say("!report harassment", as_="alice", thread=thread, reply_to=first)
    await chat.say("!case resolve 1 Talked to the member.", as_="mo")
    _, second = await hostile_reply(chat, "Still not a real doctor.")
    await chat.say("!report harassment", as_="bob", thread=thread, reply_to=second)
    await forum.settle()
    assert "Earlier cases about mallory: #1 (resolved)" in forum.card(2)


async def test_moderator_names_are_revealed_only_when_configured(tmp_path: Path) -> None:
    async with moderated_forum(sqlite_url(tmp_path), reveal_moderator_names=True) as forum:
        chat = forum.chat
        thread, hostile = await hostile_reply(chat)
        await chat.say("!report harassment", as_="alice", thread=thread, reply_to=hostile)
        await chat.say("!case resolve 1 Warned the member.", as_="mo")
        await forum.settle()
        assert "the moderators (mo) looked into it and acted: Warned the member." in forum.dms("alice")


def test_the_report_declaration_serves_every_platform() -> None:
    registry = Registry.from_package()
    report = registry.specs[("report",)]
    assert report.context_menu == ContextMenu("Report message", "message")
    assert report.needs_target_message and report.ephemeral
    assert report.params[0].choices == REPORT_CATEGORIES


async def test_hostile_names_and_reasons_cannot_ping_from_the_card(forum: ModForum) -> None:
    chat = forum.chat
    await chat.say('!thread new "Night shifts" Tips?', as_="alice")
    thread = chat.thread("Night shifts")
    await chat.say("[free scrubs](http://evil.example)", as_="@everyone", thread=thread)
    ad = chat.last_message_id("@everyone")
    await chat.say("!report spam @here look **now**", as_="alice", thread=thread, reply_to=ad)
    await forum.settle()
    card = forum.card(1)
    assert "@everyone" not in card and "@here" not in card
    assert "[free scrubs](http://evil.example)" not in card
    assert "About **@\u200beveryone**" in card and "\\*\\*now\\*\\*" in card
    assert all(not s.mentions for s in chat.transcript if s.author == "bot")


async def test_a_refused_deletion_shows_on_the_card_and_in_the_queue(forum: ModForum) -> None:
    chat = forum.chat
    chat.refuse_deletes = True
    thread, hostile = await hostile_reply(chat)
    await chat.say("!report harassment", as_="alice", thread=thread, reply_to=hostile)
    await chat.say("!case delete 1", as_="mo")
    await forum.settle()
    assert chat.removed == {}
    card = forum.card(1)
    assert "⚠️ memory refused to delete: I don't have permission to delete messages here." in card
    notice = forum.in_room("Moderators")[-1]
    assert "⚠️ Memory refused to delete **mallory** (case #1)" in notice
    assert "please delete it by hand on Memory" in notice
    assert "already deleted" in texts(await chat.say("!case delete 1", as_="mo"))
