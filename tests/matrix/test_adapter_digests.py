"""Weekly digests on a real Synapse: members talk in Element, an admin schedules, the week ends.

The bot's clock is real time plus an offset the test moves to the fire time (Synapse stamps events
with real time, so the week's posts fall in the digest's period). The digest is read back the way
members see it: the event in the room, its plain `body` and its sanitised HTML.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, RoomMessagesResponse
from sqlmodel import col, select

from chatbridge.sandbox import Homeserver
from chatbridge.services.digest.schedule import WEEKDAYS, WeeklySlot
from chatbridge.store.tables import DigestRun, OutboxItem
from support.matrix_forum import WAIT, Forum, Member, body, open_forum
from support.schedule import ZONE, ShiftedClock, coming_slot

pytestmark = pytest.mark.synapse

MakeMember = Callable[[str], Awaitable[AsyncClient]]

HEADER = "the week in review"
HOSTILE_TITLE = "<script>alert(1)</script> @room **bold** [x](javascript:alert(1)) <b>loud</b>"


@pytest.fixture
async def forum(homeserver: Homeserver, make_member: MakeMember, tmp_path: Path) -> Forum:
    forum = await open_forum(homeserver, make_member, tmp_path)
    forum.bot.clock = ShiftedClock()
    return forum


def clock_of(forum: Forum) -> ShiftedClock:
    assert isinstance(forum.bot.clock, ShiftedClock)
    return forum.bot.clock


async def a_lively_thread(forum: Forum) -> str:
    """alice asks (with a hostile first line), bob and dana answer, alice likes bob's answer."""
    root = await forum.alice.say(forum.general, HOSTILE_TITLE)
    answer = await forum.bob.say(forum.general, "Sleep in blocks, eat before midnight.", thread=root)
    await forum.dana.say(forum.general, "Blackout curtains.", thread=root)
    await forum.bot.caught_up(await forum.alice.react(forum.general, answer, "👍"))
    return root


async def schedule(forum: Forum, slot: WeeklySlot, template: str = "") -> str:
    """dana (the space's admin) types the command in the room; the answer comes privately."""
    line = f"!digest schedule here {WEEKDAYS[slot.weekday]} {slot.hour} {ZONE} {template}".rstrip()
    await forum.dana.say(forum.general, line)
    answer = await forum.dana.hears_from(forum.bot.user_id, saying="Weekly digest", accept_invites=True)
    return body(answer)


async def scheduler_checked(forum: Forum) -> None:
    """The digest scheduler has looked at the clock since now (bounded: a stopped loop fails)."""
    assert forum.bot.app is not None
    async with asyncio.timeout(WAIT):
        await forum.bot.app.digests.tick()


async def outbox_settled(forum: Forum) -> None:
    """Every outbox row is done. A post reaches the platform a moment before its row is marked
    done; a bot stopped in between would carry the row out again at its next start."""

    assert forum.bot.app is not None

    def pending() -> int:
        with forum.bot.store() as session:
            return len(session.exec(select(OutboxItem.id).where(col(OutboxItem.done_at).is_(None))).all())

    async with asyncio.timeout(WAIT):
        while await asyncio.to_thread(pending):
            await asyncio.sleep(0.05)
            await forum.bot.app.outbox.drain()


async def digest_events(member: Member, room_id: str) -> list[dict[str, Any]]:
    """The digests in the room, oldest first, as a member scrolling back sees them."""
    response = await member.client.room_messages(room_id, start="", limit=200)
    assert isinstance(response, RoomMessagesResponse), response
    events = [e.source for e in reversed(response.chunk) if e.source.get("type") == "m.room.message"]
    return [e for e in events if HEADER in body(e)]


def runs(forum: Forum) -> int:
    with forum.bot.store() as session:
        return len(session.exec(select(DigestRun)).all())


async def test_a_scheduled_digest_is_posted_once_as_a_sanitised_notice(forum: Forum) -> None:
    """What members see in Element is the digest, inert (no HTML of theirs, no @room), and only once:
    a restart in the same week posts nothing, a week missed while the bot was down comes at start."""
    bot, clock = forum.bot, clock_of(forum)
    slot, fire = coming_slot(clock())
    async with bot.running():
        assert bot.app is not None
        await a_lively_thread(forum)
        assert "Weekly digest scheduled in General Discussion: " in await schedule(forum, slot)
        await scheduler_checked(forum)
        assert runs(forum) == 0, "not before its time"

        clock.move_to(fire + timedelta(minutes=1))
        await scheduler_checked(forum)
        digest = await forum.alice.hears_from(bot.user_id, room_id=forum.general, saying=HEADER)
        await outbox_settled(forum)

    content = digest["content"]
    assert content["msgtype"] == "m.notice" and content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"] == {}
    text, html = content["body"], content["formatted_body"]
    assert text.startswith("📰 ") and "\n\n🔥 Most active threads\n" in text, "plain text, no Markdown"
    assert "<h2>📰 " in html and "<h3>🔥 Most active threads</h3>" in html
    assert "<script" not in html and "<b>loud" not in html
    assert all(href.startswith("https://matrix.to/#/") for href in re.findall(r'href="([^"]*)"', html))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;loud&lt;/b&gt;" in html
    assert "@room" not in text and "@room" not in html and "@\u200broom" in text
    assert "**bold**" in text and "<strong>bold" not in html, "the title's Markdown is shown, not applied"
    assert '<a href="https://matrix.to/#/' in html  # links to the thread, on the member's server

    async with bot.running():  # a restart in the same week: no second digest
        assert bot.app is not None
        await scheduler_checked(forum)
        await bot.app.outbox.drain()
        assert runs(forum) == 1
    assert len(await digest_events(forum.alice, forum.general)) == 1

    clock.move_to(fire + timedelta(days=7, hours=3))  # down over the next fire time
    async with bot.running():
        starts = fire.astimezone(slot.zone)  # the missed week began at the first digest's fire time
        missed = await forum.alice.hears_from(
            bot.user_id, room_id=forum.general, saying=f"{starts:%b} {starts.day}, {starts.year} – "
        )
        assert "A quiet week" in body(missed)
        await outbox_settled(forum)
        assert bot.app is not None
        await scheduler_checked(forum)
        await bot.app.outbox.drain()
        assert runs(forum) == 2
    assert len(await digest_events(forum.alice, forum.general)) == 2


HOSTILE_TEMPLATE = """\
{{ community }}: the week in review @room @everyone <script>alert(1)</script>
{% for t in threads %}
- {{ t.title | safe }} {{ t.url | link("<b>open</b>") }} [click](javascript:alert(1))
{% endfor %}
{% raw %}<img src="https://evil.example/track.png"> @room{% endraw %}
"""
"""An admin's template that tries everything: pings, raw HTML, a script link, a tracking image."""


async def test_an_admins_template_cannot_break_out_and_a_broken_one_is_reported_to_its_author(
    homeserver: Homeserver, make_member: MakeMember, tmp_path: Path
) -> None:
    """An admin's template is theirs to write but not to ping with or inject HTML through; when it
    breaks, whoever set the schedule hears why (with the line) and members get the bundled digest."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ours.md.j2").write_text(HOSTILE_TEMPLATE)
    extra = {"digest": {"templates_dir": templates}}
    forum = await open_forum(homeserver, make_member, tmp_path, settings_extra=extra)
    bot, clock = forum.bot, ShiftedClock()
    bot.clock = clock
    slot, fire = coming_slot(clock())
    async with bot.running():
        assert bot.app is not None
        await a_lively_thread(forum)
        assert "with the template ours.md.j2" in await schedule(forum, slot, "ours.md.j2")
        clock.move_to(fire + timedelta(minutes=1))
        await scheduler_checked(forum)
        digest = await forum.alice.hears_from(bot.user_id, room_id=forum.general, saying=HEADER)
        await outbox_settled(forum)

    content = digest["content"]
    text, html = content["body"], content["formatted_body"]
    assert content["m.mentions"] == {} and "@room" not in text + html and "@everyone" not in text + html
    assert "<script" not in html and "<b>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=" in html
    assert all(href.startswith("https://matrix.to/#/") for href in re.findall(r'href="([^"]*)"', html))

    # The admin breaks the template; the bot is down over the next fire time and posts at start.
    (templates / "ours.md.j2").write_text("{{ community }}: the week in review\n{{ numbers.nope }}\n")
    clock.move_to(fire + timedelta(days=7, hours=3))  # past the next slot, even across a clock change
    async with bot.running():
        missed = await forum.alice.hears_from(bot.user_id, room_id=forum.general, saying="A quiet week")
        assert "📊 The week in numbers" in body(missed), "the bundled template was used instead"
        told = await forum.dana.hears_from(bot.user_id, saying="could not be used", accept_invites=True)
    assert body(told).startswith(
        "⚠ The weekly digest in General Discussion was posted with the bundled template, because "
        "the template ours.md.j2 could not be used (line 2): "
    )
    assert told["content"]["m.mentions"] == {}
