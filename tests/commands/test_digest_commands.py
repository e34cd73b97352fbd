"""Weekly digests, as moderators set them up and as the community receives them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from chatbridge.adapters.memory import MemoryPlatform, Said
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.model import Privilege
from chatbridge.store.tables import DigestRun, DigestSchedule, OutboxItem
from support.forum import sqlite_url, texts

WEDNESDAY = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)
NEXT_MONDAY_9_LONDON = datetime(2025, 7, 21, 8, 0, tzinfo=UTC)


@dataclass
class Bot:
    chat: MemoryPlatform
    app: Application

    async def scheduler_checked(self, wait: float = 10.0) -> None:
        """The digest scheduler has looked at the clock since now (bounded: a stopped loop fails)."""
        async with asyncio.timeout(wait):
            await self.app.digests.tick()

    async def outbox_done(self, wait: float = 10.0) -> None:
        """Every outbox row is carried out and marked done (a post shows in the chat a moment
        before the worker that sent it commits its completion)."""

        def pending() -> int:
            with Session(self.app.core.engine) as session:
                return len(session.exec(select(OutboxItem.id).where(col(OutboxItem.done_at).is_(None))).all())

        async with asyncio.timeout(wait):
            while await asyncio.to_thread(pending):
                await asyncio.sleep(0.05)
                await self.app.outbox.drain()

    async def digests(self, wait: float = 10.0) -> list[Said]:
        """Public digest posts, once the outbox has carried out what is queued."""
        return await self.said(lambda s: "the week in review" in s.text and not s.ephemeral_for, wait)

    async def template_notices(self, wait: float = 10.0) -> list[Said]:
        """What the admins were told about templates that could not be used at post time."""
        return await self.said(lambda s: "could not be used" in s.text and s.author == "bot", wait)

    async def said(self, wanted: Callable[[Said], bool], wait: float) -> list[Said]:
        """The bot's messages `wanted` accepts, once there is one (or `wait` seconds passed)."""
        await self.app.outbox.drain()
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline:
            found = [s for s in self.chat.transcript if wanted(s)]
            if found:
                return found
            await asyncio.sleep(0.05)
            await self.app.outbox.drain()
        return []


@asynccontextmanager
async def bot(
    url: str, start: datetime = WEDNESDAY, prefix: str = "", **settings: object
) -> AsyncIterator[Bot]:
    chat = MemoryPlatform(start_time=start, id_prefix=prefix)
    core = Core.build(Settings(database_url=url, **settings), clock=chat.now)  # type: ignore[arg-type]
    try:
        async with Application(core, [chat]).running() as app:
            await chat.started.wait()
            yield Bot(chat, app)
    finally:
        core.engine.dispose()


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[Bot]:
    async with bot(sqlite_url(tmp_path)) as running:
        running.chat.member("mo", Privilege.MODERATOR)
        yield running


async def a_lively_week(chat: MemoryPlatform) -> str:
    await chat.say('!thread new "Night shifts @everyone" Any tips for the first month?', as_="alice")
    thread = chat.thread("Night shifts @everyone")
    await chat.say("Sleep in blocks.", as_="bob", thread=thread)
    await chat.say("Blackout curtains.", as_="carol", thread=thread)
    await chat.add_reaction(chat.last_message_id("carol"), "👍", as_="alice")
    await chat.say('!thread new "Anyone used the new sepsis pathway?" Is it any good?', as_="dave")
    chat.advance(timedelta(hours=2))
    return thread


async def test_a_moderator_schedules_a_weekly_digest(forum: Bot) -> None:
    chat = forum.chat
    reply = texts(await chat.say("!digest schedule here monday 9 europe/london", as_="mo"))
    assert reply == (
        "Weekly digest scheduled in **General Discussion**: Mondays at 09:00 (Europe/London). "
        "The first one comes Mon Jul 21, 2025 09:00 BST."
    )
    quoted = texts(await chat.say('!digest schedule "Clinical Questions" fri 17 America/New_York', as_="mo"))
    assert "in **Clinical Questions**: Fridays at 17:00 (America/New_York)" in quoted
    listing = texts(await chat.say("!digest list", as_="mo"))
    assert (
        "- **General Discussion**: Mondays at 09:00 (Europe/London) · next Mon Jul 21, 2025 09:00 BST"
        in listing
    )
    assert (
        "- **Clinical Questions**: Fridays at 17:00 (America/New_York) · next Fri Jul 18, 2025 17:00 EDT"
        in listing
    )


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (
            "!digest schedule here funday 9 UTC",
            "“funday” isn't a weekday: use monday … sunday (or mon … sun).",
        ),
        ("!digest schedule here mon 24 UTC", "<hour> must be at most 23."),
        ("!digest schedule here mon -1 UTC", "<hour> must be at least 0."),
        ("!digest schedule here mon nine UTC", "<hour> must be a whole number, not 'nine'."),
        (
            "!digest schedule here mon 9 Europe/Londn",
            "“Europe/Londn” isn't an IANA time zone. Did you mean Europe/London?",
        ),
        ("!digest schedule here mon 9 @everyone", "“@\u200beveryone” isn't an IANA time zone."),
        (
            "!digest schedule Cardiology mon 9 UTC",
            "I don't know a channel called 'Cardiology'. Channels here: General",
        ),
        (
            "!digest schedule here mon 9 UTC mine.md.j2",
            # The problem is escaped as a whole (\\: and \\_ still read as : and _ in chat).
            "own templates are off\\: an admin sets digest.templates\\_dir",
        ),
        ("!digest now", "No digest is scheduled for General Discussion."),
        ("!digest off", "There is no weekly digest in General Discussion to turn off."),
    ],
)
async def test_mistakes_get_clear_answers(forum: Bot, line: str, answer: str) -> None:
    reply = await forum.chat.say(line, as_="mo")
    assert answer in texts(reply)
    assert all(r.ephemeral_for == "mo" for r in reply)


async def test_digests_are_for_moderators(forum: Bot) -> None:
    for line in ("!digest schedule here mon 9 UTC", "!digest list", "!digest preview", "!digest now"):
        assert "is for moderators" in texts(await forum.chat.say(line, as_="bob"))


async def test_a_preview_shows_the_week_so_far_only_to_the_moderator(forum: Bot) -> None:
    chat = forum.chat
    await a_lively_week(chat)
    await chat.say("!digest schedule here monday 9 Europe/London", as_="mo")
    [preview] = await chat.say("!digest preview", as_="mo")
    assert preview.ephemeral_for == "mo"
    assert "Jul 14, 2025 – Jul 16, 2025" in preview.text
    assert "1. **#1 Night shifts @\u200beveryone** in General Discussion · started by alice" in preview.text
    assert (
        "· 2 replies from 3 members · 1 like · [Open](<https://chat.example/console/general-discussion/"
        in (preview.text)
    )
    assert "- **carol** in #1 Night shifts @\u200beveryone · 1 like: “Blackout curtains.”" in preview.text
    assert "**#2 Anyone used the new sepsis pathway?** in General Discussion · asked by dave" in preview.text
    assert "@everyone" not in preview.text
    assert await forum.digests(wait=0.2) == [], "a preview is not posted"


async def test_digest_now_posts_once_through_the_outbox(forum: Bot) -> None:
    chat = forum.chat
    await a_lively_week(chat)
    await chat.say("!digest schedule here monday 9 Europe/London", as_="mo")
    answer = texts(await chat.say("!digest now", as_="mo"))
    assert answer == "Posting the digest of the last seven days in General Discussion now."
    [digest] = await forum.digests()
    assert digest.room.room_id == "general-discussion" and digest.ephemeral_for is None
    assert digest.text.startswith("## 📰 console: the week in review\n"), "the community's name"
    assert "Jul 9, 2025 – Jul 16, 2025" in digest.text and "Night shifts" in digest.text
    assert digest.mentions == ()
    await forum.outbox_done()  # the post is in the chat; now the outbox has recorded it too
    assert "last posted Wed Jul 16, 2025 12:00 BST" in texts(await chat.say("!digest list", as_="mo"))


async def test_off_stops_the_schedule_and_schedule_turns_it_back_on(forum: Bot) -> None:
    chat = forum.chat
    await chat.say("!digest schedule here monday 9 Europe/London", as_="mo")
    assert "is off" in texts(await chat.say("!digest off", as_="mo"))
    assert "· off" in texts(await chat.say("!digest list", as_="mo"))
    assert "No digest is scheduled" in texts(await chat.say("!digest now", as_="mo"))
    await chat.say("!digest schedule here tuesday 8 UTC", as_="mo")
    with Session(forum.app.core.engine) as session:
        schedule = session.exec(select(DigestSchedule)).one()
        assert (schedule.enabled, schedule.weekday, schedule.hour, schedule.timezone) == (True, 1, 8, "UTC")


async def test_the_scheduled_digest_comes_once_even_after_downtime_and_restarts(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with bot(url) as first:
        first.chat.member("mo", Privilege.MODERATOR)
        await a_lively_week(first.chat)
        await first.chat.say("!digest schedule here monday 9 Europe/London", as_="mo")
    # The bot was down over Monday 09:00; it starts again on Monday afternoon.
    async with bot(url, start=NEXT_MONDAY_9_LONDON + timedelta(hours=5), prefix="b") as second:
        await asyncio.to_thread(second.app.digests.run_once)
        [digest] = await second.digests()
        # The whole week before the slot, though the schedule was only set on Wednesday.
        assert "Jul 14, 2025 – Jul 21, 2025" in digest.text and "Night shifts" in digest.text
    async with bot(url, start=NEXT_MONDAY_9_LONDON + timedelta(hours=6), prefix="c") as third:
        assert await asyncio.to_thread(third.app.digests.run_once) == []
        assert await third.digests(wait=0.3) == []
    with Session(Core.build(Settings(database_url=url), migrate=False).engine) as session:
        assert len(session.exec(select(DigestRun)).all()) == 1


async def test_an_admin_template_that_breaks_is_reported_with_its_line(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "broken.md.j2").write_text("# {{ community }}\n{{ threads[0].title.__class__ }}\n")
    (templates / "short.md.j2").write_text(
        "**{{ community }}** · {{ numbers.replies | plural('reply', 'replies') }}"
    )
    async with bot(sqlite_url(tmp_path), digest={"templates_dir": templates}) as forum:
        chat = forum.chat
        chat.member("mo", Privilege.MODERATOR)
        refused = texts(await chat.say("!digest schedule here monday 9 UTC broken.md.j2", as_="mo"))
        assert refused.startswith("I didn't schedule it: broken.md.j2, line 2:")
        assert "\\_\\_class\\_\\_" in refused
        ok = texts(await chat.say("!digest schedule here monday 9 UTC short.md.j2", as_="mo"))
        assert "with the template short.md.j2" in ok
        (templates / "short.md.j2").write_text("{% for x in %}")  # the admin breaks it later
        listing = texts(await chat.say("!digest list", as_="mo"))
        assert (
            "⚠ short.md.j2, line 1:" in listing
            and "the bundled template is used until it is fixed" in listing
        )
        [preview, *_] = await chat.say("!digest preview", as_="mo")
        assert preview.text.startswith("⚠ Your template could not be used, so this is the bundled one.")
        assert "the week in review" in preview.text


BROKEN_LATER = "**{{ community }}**\n\n{{ numbers.threads }} threads\n{{ numbers.nope }}\n"
"""An admin's template that was fine when chosen, edited later to use a field that does not exist."""


@pytest.mark.parametrize(
    ("moderation", "told_in"),
    [
        ({}, "dm-mo"),  # no admins' or moderators' room: whoever set the schedule, privately
        ({"queue_room": "Clinical Questions"}, "clinical-questions"),
        ({"queue_room": "Clinical Questions", "admin_queue_room": "Careers & Training"}, "careers-training"),
    ],
)
async def test_a_template_that_breaks_after_scheduling_is_reported_at_post_time_with_its_line(
    tmp_path: Path, moderation: dict[str, str], told_in: str
) -> None:
    """The scheduled post has nobody in the chat to answer, so the admins are told where they
    listen, once, and members still get the digest (rendered with the bundled template)."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "mine.md.j2").write_text("**{{ community }}**: {{ numbers.threads }} threads\n")
    url = sqlite_url(tmp_path)
    async with bot(url, digest={"templates_dir": templates}, moderation=moderation) as forum:
        chat = forum.chat
        chat.member("mo", Privilege.MODERATOR)
        await a_lively_week(chat)
        assert "with the template mine.md.j2" in texts(
            await chat.say("!digest schedule here monday 9 Europe/London mine.md.j2", as_="mo")
        )
        (templates / "mine.md.j2").write_text(BROKEN_LATER)
        chat.advance(NEXT_MONDAY_9_LONDON - chat.now() + timedelta(minutes=1))
        await forum.scheduler_checked()

        [digest] = await forum.digests()
        assert digest.room.room_id == "general-discussion"
        assert "Night shifts @\u200beveryone" in digest.text, "the bundled template, with the week's threads"
        [notice] = await forum.template_notices()
        assert notice.room.room_id == told_in
        assert notice.text.startswith(
            "⚠ The weekly digest in **General Discussion** was posted with the bundled template, "
            "because the template mine.md.j2 could not be used (line 4): "
        )
        assert "nope" in notice.text and "`!digest preview` shows what is wrong" in notice.text
        assert notice.mentions == ()

        assert await asyncio.to_thread(forum.app.digests.run_once) == []  # the same week: nothing new
        assert len(await forum.template_notices()) == 1 and len(await forum.digests()) == 1
    async with bot(url, start=NEXT_MONDAY_9_LONDON + timedelta(hours=1), prefix="b") as again:
        await again.scheduler_checked()  # nor after a restart
        assert await again.template_notices(wait=0.2) == [] and await again.digests(wait=0.2) == []


async def test_a_template_problem_with_nobody_to_tell_still_posts_the_bundled_digest(tmp_path: Path) -> None:
    """A schedule whose moderator has left (no account to write to) loses nothing but the notice."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "mine.md.j2").write_text("{{ community }}\n")
    async with bot(sqlite_url(tmp_path), digest={"templates_dir": templates}) as forum:
        chat = forum.chat
        chat.member("mo", Privilege.MODERATOR)
        await a_lively_week(chat)
        await chat.say("!digest schedule here monday 9 Europe/London mine.md.j2", as_="mo")
        with Session(forum.app.core.engine) as session:
            schedule = session.exec(select(DigestSchedule)).one()
            schedule.created_by_member_id = None
            session.commit()
        (templates / "mine.md.j2").write_text("{% for %}")
        chat.advance(NEXT_MONDAY_9_LONDON - chat.now() + timedelta(minutes=1))
        await forum.scheduler_checked()
        [digest] = await forum.digests()
        assert "Night shifts" in digest.text
        assert await forum.template_notices(wait=0.2) == []
