"""Moderation reasons, report texts, notes and appeals are members' health details: they go to the
store and to the people they are meant for, never to the log (logs go where moderators have no say)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from support.forum import sqlite_url, texts
from support.moderation import moderated_forum

PATIENT = "Patient John Smith DOB 1961-03-14 MRN 4417-2210"
"""What a moderator might quote; none of its parts may reach a log record."""
FRAGMENTS = ("John Smith", "1961-03-14", "4417-2210")


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would write it: message, exception text and any extra fields."""
    formatter = logging.Formatter()
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
        lines.extend(str(value) for value in vars(record).values())
    return "\n".join(lines)


async def test_reports_notes_warnings_mutes_outcomes_and_appeals_are_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("chatbridge.commands").debug("canary")
    async with moderated_forum(sqlite_url(tmp_path)) as forum:
        chat = forum.chat
        await chat.join("mallory")
        await chat.say('!thread new "Night shifts" Any tips for the first month of nights?', as_="alice")
        thread = chat.thread("Night shifts")
        await chat.say("Are you even a real doctor?", as_="mallory", thread=thread)
        hostile = chat.last_message_id("mallory")

        said = [
            await chat.say(
                f"!report harassment {PATIENT} (report)", as_="alice", thread=thread, reply_to=hostile
            ),
            await chat.say(f"!note mallory {PATIENT} (note)", as_="mo"),
            await chat.say(f"!warn mallory 1 {PATIENT} (warning)", as_="mo"),
            await chat.say(f"!mute mallory 2h {PATIENT} (mute)", as_="mo"),
            await chat.say(f"!case resolve 1 {PATIENT} (outcome)", as_="mo"),
        ]
        await forum.settle()
        said.append(await chat.say(f"!appeal {PATIENT} (appeal)", as_="mallory"))
        await forum.settle()

    answers = "\n".join(texts(replies) for replies in said)
    assert "case #1" in answers and "muted until" in answers, answers  # every step was carried out
    assert "(mute)" in forum.dms("mallory"), "the member is told the reason; the log is not"
    assert "canary" in caplog.messages, (
        "chatbridge's DEBUG records are not captured: the test would prove nothing"
    )
    everything = logged(caplog)
    for fragment in FRAGMENTS:
        assert fragment not in everything
