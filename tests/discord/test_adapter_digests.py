"""Weekly digests on Discord, end to end: members talk, a moderator schedules, the week ends.

The real application runs with the real discord.py client against the wire-level double. Members
post, reply and like through the double; a moderator schedules the digest with the slash command;
the bot's clock is then moved to the fire time (Discord stamps messages with real time, so the
clock is real time plus an offset the test moves on) and the tests read the REST calls the bot
made: where the digest went, how it was split, what it could ping, and how often it came.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from chatbridge.model import ChatEvent, MemberJoined, ReactionAdded
from chatbridge.render.escape import escape_user_text
from chatbridge.services.digest.schedule import WEEKDAYS, WeeklySlot
from chatbridge.store.tables import DigestRun, OutboxItem
from support.discord_double import Community, DiscordDouble, RestCall, payloads
from support.discord_double import options as opt
from support.discord_forum import DiscordForum, discord_forum, forum_post, reply
from support.forum import sqlite_url
from support.schedule import ZONE, ShiftedClock, coming_slot

HEADER = "the week in review"
HOSTILE_TITLE = "@everyone <@&123> **bold** [x](javascript:alert(1))"
HOSTILE_NAME = "@here Dr. <@&42>"
MENTION = re.compile(r"<@[!&]?\d+>")
"""A user or role mention as Discord parses it (an inert one has a zero-width space after the @)."""
UNESCAPED_LINK_TO_SCRIPT = re.compile(r"(?<!\\)\]\(\s*<?javascript", re.IGNORECASE)
LIMITS = {"content": 2_000, "description": 4_096, "message": 6_000}
"""Discord's limits: characters of content, of one embed's description, of a message in total."""


async def like(forum: DiscordForum, thread_id: int, message_id: int, member: int) -> None:
    await forum.double.add_reaction(thread_id, message_id, "👍", member)
    await forum.applied.wait(lambda e: isinstance(e, ReactionAdded) and e.message_id == str(message_id))


async def newcomers(forum: DiscordForum, community: Community) -> tuple[int, int]:
    """carol joins, and so does dave, whose display name tries to ping the whole server."""
    dave = forum.double.world.add_user("dave", global_name=HOSTILE_NAME)
    for user in (community.carol, dave):
        await forum.double.member_joins(community.guild_id, user)
        await forum.applied.wait(joined(user))
    return community.carol, dave


def joined(user_id: int) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, MemberJoined) and e.actor.user_id == str(user_id)


async def a_busy_week(forum: DiscordForum, community: Community) -> None:
    """Five lively forum posts (one with a hostile title), replies quoted at length, likes."""
    carol, dave = await newcomers(forum, community)
    titles = [HOSTILE_TITLE] + [
        f"Case {n}: a long and winding diagnostic question about the differential in the elderly"
        for n in range(2, 6)
    ]
    for title in titles:
        thread_id = await forum_post(forum, community.forum, community.alice, title, "What would you do?")
        answers = [
            await reply(
                forum, thread_id, who, f"{name} thinks: " + "check the basics, then think again. " * 4
            )
            for who, name in ((community.bob, "Bob"), (carol, "Carol"), (dave, "Dave"))
        ]
        await like(forum, thread_id, answers[0], community.alice)
    await forum.settle()


async def schedule(forum: DiscordForum, community: Community, slot: WeeklySlot, *extra: opt.Option) -> str:
    """bob (a moderator) runs /digest schedule here <weekday> <hour> Europe/London in #general."""
    asked = await forum.double.run_slash_command(
        "digest",
        opt.subcommand(
            "schedule",
            opt.string("channel", "here"),
            opt.string("weekday", WEEKDAYS[slot.weekday]),
            opt.integer("hour", slot.hour),
            opt.string("timezone", ZONE),
            *extra,
        ),
        user_id=community.bob,
        channel_id=community.general,
    )
    said = await forum.double.wait_for_interaction_response(asked)
    assert said["data"]["flags"] & payloads.EPHEMERAL_FLAG, "a moderator's answer, only for them"
    content: str = said["data"]["content"]
    return content


async def scheduler_checked(forum: DiscordForum) -> None:
    """The digest scheduler has looked at the clock since now (bounded: a stopped loop fails)."""
    assert forum.app is not None
    async with asyncio.timeout(forum.double.wait_timeout):
        await forum.app.digests.tick()


async def outbox_settled(forum: DiscordForum) -> None:
    """Every outbox row is done. A post reaches the platform a moment before its row is marked
    done; a bot stopped in between would carry the row out again at its next start."""

    assert forum.app is not None

    def pending() -> int:
        with forum.store() as session:
            return len(session.exec(select(OutboxItem.id).where(col(OutboxItem.done_at).is_(None))).all())

    async with asyncio.timeout(forum.double.wait_timeout):
        while await asyncio.to_thread(pending):
            await asyncio.sleep(0.05)
            await forum.app.outbox.drain()


def digest_posts(double: DiscordDouble, channel_id: int) -> list[list[RestCall]]:
    """The bot's posts in a channel, grouped into digests (a digest starts with its header)."""
    digests: list[list[RestCall]] = []
    for call in double.calls("POST", f"/channels/{channel_id}/messages"):
        if HEADER in call.json.get("content", ""):
            digests.append([call])
        elif digests:
            digests[-1].append(call)
    return digests


async def posted_digest(double: DiscordDouble, channel_id: int, count: int = 1) -> list[RestCall]:
    """The `count`-th digest in the channel, once its last part (the week in numbers) is posted."""
    await double.wait_for_rest(
        "POST",
        f"/channels/{channel_id}/messages",
        where=lambda call: "The week in numbers" in call.json.get("content", ""),
        count=count,
    )
    return digest_posts(double, channel_id)[count - 1]


def runs(forum: DiscordForum) -> int:
    """Digests claimed in the store: each one is posted, and none is ever claimed twice."""
    with forum.store() as session:
        return len(session.exec(select(DigestRun)).all())


def assert_within_discord_limits(parts: Iterable[RestCall]) -> None:
    for part in parts:
        content = part.json.get("content") or ""
        embeds: list[dict[str, Any]] = part.json.get("embeds") or []
        descriptions = [len(e.get("description") or "") for e in embeds]
        total = len(content) + sum(len(e.get("title") or "") for e in embeds) + sum(descriptions)
        assert len(content) <= LIMITS["content"] and all(d <= LIMITS["description"] for d in descriptions)
        assert total <= LIMITS["message"] and len(embeds) <= 10


def assert_pings_nobody(parts: Iterable[RestCall]) -> None:
    for part in parts:
        assert part.status == 200 and part.json["allowed_mentions"] == {"parse": []}
        sent = part.response
        assert (sent["mention_everyone"], sent["mentions"], sent["mention_roles"]) == (False, [], [])
        content = part.json["content"]
        for raw in ("@everyone", "@here"):
            assert raw not in content, raw
        assert not MENTION.search(content)


def assert_title_shown_as_typed(parts: Iterable[RestCall]) -> None:
    """The hostile title's Markdown is escaped: no bold, no link (Discord links only http(s) anyway)."""
    for part in parts:
        content = part.json["content"]
        assert "**bold**" not in content and "javascript:" not in content
        assert not UNESCAPED_LINK_TO_SCRIPT.search(content)


async def test_a_scheduled_digest_arrives_once_split_within_limits_and_pinging_nobody(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """A week too long for one message reaches #general in parts Discord accepts, with a hostile
    title and name shown as typed and nobody pinged; restarts never post it twice, and a week
    missed while the bot was down is posted when it starts."""
    double, clock, url = discord_py_on_double, ShiftedClock(), sqlite_url(tmp_path)
    slot, fire = coming_slot(clock())
    roomy = {"digest": {"max_per_author": 10}}  # three repliers may fill every section
    async with discord_forum(double, url, clock=clock, settings_extra=roomy) as forum:
        assert forum.app is not None
        await a_busy_week(forum, community)
        answer = await schedule(forum, community, slot)
        assert answer.startswith(
            f"Weekly digest scheduled in **general**: {WEEKDAYS[slot.weekday].capitalize()}s at "
            f"{slot.hour:02d}:00 (Europe/London)."
        )
        await scheduler_checked(forum)
        assert digest_posts(double, community.general) == [], "not before its time"

        clock.move_to(fire + timedelta(minutes=1))
        await scheduler_checked(forum)
        parts = await posted_digest(double, community.general)
        await outbox_settled(forum)

    text = "\n\n".join(p.json["content"] for p in parts)
    assert len(parts) >= 2 and len(text) > LIMITS["content"], "a digest too long for one message"
    assert_within_discord_limits(parts)
    assert_pings_nobody(parts)
    assert_title_shown_as_typed(parts)
    assert f"**#1 {escape_user_text(HOSTILE_TITLE)}** in questions · started by Alice Adams" in text
    assert "### 💬 Most-liked replies" in text and "### 👋 Welcome" in text
    assert escape_user_text(HOSTILE_NAME) in text  # the newcomer is welcomed, inertly
    permalink = f"https://discord.com/channels/{community.guild_id}/"
    assert f"[Open](<{permalink}" in text and f"[Read it](<{permalink}" in text
    assert "5 new threads · 15 replies · 5 likes" in text

    # A restart over the same store in the same week posts nothing more.
    async with discord_forum(double, url, clock=clock, settings_extra=roomy) as forum:
        assert forum.app is not None
        await scheduler_checked(forum)
        await forum.app.outbox.drain()
        assert runs(forum) == 1 and len(digest_posts(double, community.general)) == 1

    # Down over the next fire time: the missed digest (its week is still the newest) comes at start.
    clock.move_to(fire + timedelta(days=7, hours=3))
    async with discord_forum(double, url, clock=clock, settings_extra=roomy) as forum:
        assert forum.app is not None
        missed = await posted_digest(double, community.general, count=2)
        await outbox_settled(forum)
        starts = fire.astimezone(slot.zone)  # the missed week began at the first digest's fire time
        assert f"\n{starts:%b} {starts.day}, {starts.year} – " in missed[0].json["content"]
        assert "A quiet week" in missed[-1].json["content"]
        await scheduler_checked(forum)
        await forum.app.outbox.drain()
        assert runs(forum) == 2
    assert len(digest_posts(double, community.general)) == 2


HOSTILE_TEMPLATE = """\
{{ community }}: the week in review @everyone @here <@&{{ 123 }}> <@{{ 456 }}>
{% for t in threads %}
- {{ t.title | safe }} {{ t.url | link("@everyone") }} [click](javascript:alert(1))
{% endfor %}
{% raw %}@everyone <@&42>{% endraw %} The week in numbers
"""
"""An admin's template that tries to ping everyone, a role and a member, and to link a script."""


async def test_an_admins_template_cannot_ping_and_a_broken_one_is_reported_in_the_queue(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    """Whatever an admin's template writes, nobody is pinged; when it breaks, the moderators'
    queue hears why (with the line) and the channel still gets the bundled digest."""
    double, clock = discord_py_on_double, ShiftedClock()
    queue = community.guild.add_text_channel("mod-queue")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ours.md.j2").write_text(HOSTILE_TEMPLATE)
    extra = {
        "digest": {"templates_dir": templates, "min_participants": 2},
        "moderation": {"queue_room": "mod-queue"},
    }
    slot, fire = coming_slot(clock())
    async with discord_forum(double, sqlite_url(tmp_path), clock=clock, settings_extra=extra) as forum:
        assert forum.app is not None
        thread_id = await forum_post(forum, community.forum, community.alice, HOSTILE_TITLE, "Thoughts?")
        await reply(forum, thread_id, community.bob, "Start with the history.")
        answer = await schedule(forum, community, slot, opt.string("template", "ours.md.j2"))
        assert "with the template ours.md.j2" in answer
        clock.move_to(fire + timedelta(minutes=1))
        await scheduler_checked(forum)
        [hostile] = await posted_digest(double, community.general)
        assert_pings_nobody([hostile])
        assert "<@\u200b&123> <@\u200b456>" in hostile.json["content"]

        # The admin edits the template and breaks it; the next week's digest still comes.
        (templates / "ours.md.j2").write_text("{{ community }}\n{{ numbers.nope }}\n")
        clock.move_to(fire + timedelta(days=7, hours=3))  # past the next slot, even across a clock change
        await scheduler_checked(forum)
        parts = await posted_digest(double, community.general, count=2)
        notice = await double.wait_for_rest("POST", f"/channels/{queue}/messages")

    assert_pings_nobody(parts)
    assert_title_shown_as_typed(parts)
    assert parts[0].json["content"].startswith("## 📰 ") and HEADER in parts[0].json["content"]
    said = notice.json["content"]
    assert said.startswith(
        "⚠ The weekly digest in **general** was posted with the bundled template, because the "
        "template ours.md.j2 could not be used (line 2): "
    )
    assert notice.json["allowed_mentions"] == {"parse": []}
    assert len(double.calls("POST", f"/channels/{queue}/messages")) == 1
