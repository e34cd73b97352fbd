"""Application commands through the wire-level double: what members click, what the bot answers.

The real application runs (core, dispatcher, store) with the real discord.py client; members act
through the double and the tests read the interaction callbacks, the REST calls and the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest

from chatbridge.adapters.discord.commands import menu_form, plan
from chatbridge.context import Context
from chatbridge.model import Action, CommandInvoked, Form, FormField, MessagePosted, OutgoingMessage
from chatbridge.registry import Param, Registry, command
from chatbridge.services import profiles
from chatbridge.store.tables import ProfileField
from support.discord_double import Community, DiscordDouble, payloads
from support.discord_double import options as opt
from support.discord_double.state import InteractionState
from support.discord_forum import TEST_TUNING, discord_forum, forum_post, reply
from support.forum import sqlite_url

EPHEMERAL = payloads.EPHEMERAL_FLAG


def commands(*handlers: Any) -> types.ModuleType:
    """A throwaway commands module: what a test declares on top of the bundled commands."""
    module = types.ModuleType("test_commands")
    for handler in handlers:
        setattr(module, handler.__name__, handler)
    return module


async def answer(double: DiscordDouble, interaction: InteractionState, count: int = 1) -> dict[str, Any]:
    return await double.wait_for_interaction_response(interaction, count=count)


# -- the shape of the commands -----------------------------------------------------------------


def test_the_plan_nests_groups_and_keeps_target_only_commands_as_menus() -> None:
    layout = plan(Registry.from_package())
    names = layout.names()
    assert names[("thread", "new")] == ("thread", "new")
    assert names[("profile",)] == ("profile", "show")  # a group cannot be invoked itself
    assert names[("profile", "set")] == ("profile", "set")
    assert ("like",) not in names and ("unlike",) not in names  # they need a target message
    assert {(m.label, m.target) for m in layout.menus} >= {
        ("Like", "message"),
        ("Share", "message"),
        ("View profile", "user"),
    }


@command("rota", help="The rota.")
async def rota(ctx: Context) -> OutgoingMessage:
    return ctx.say("rota")


@command("rota show", help="Show a rota.")
async def rota_show(ctx: Context) -> OutgoingMessage:
    return ctx.say("show")


@command("rota view", help="View a rota.")
async def rota_view(ctx: Context) -> OutgoingMessage:
    return ctx.say("view")


@command("rota swap", help="Swap a shift.")
async def rota_swap(ctx: Context) -> OutgoingMessage:
    return ctx.say("swap")


@command("rota swap night shift", help="Four words: Discord cannot nest this.")
async def rota_swap_night_shift(ctx: Context) -> OutgoingMessage:
    return ctx.say("night")


def test_the_plan_takes_its_names_from_the_registry_even_at_the_edges(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One source for Discord's naming rules: where `show` is taken the declaration becomes
    `view`, a group that is also a declaration three words deep is skipped, and so is a path of
    four words; the command tree offers exactly the names help shows, and logs what it left out."""
    registry = Registry()
    registry.add_module(commands(rota, rota_show, rota_view, rota_swap, rota_swap_night_shift))
    names = plan(registry).names()
    assert names == registry.slash_names()
    assert names[("rota",)] == ("rota", "info")  # show and view are subcommands of their own
    assert names[("rota", "swap")] == ("rota", "swap")
    assert ("rota", "swap", "night", "shift") not in names
    assert "'rota swap night shift' has more than 3 words" in caplog.text
    assert set(registry.slash_refusals()) == {("rota", "swap", "night", "shift")}


def test_a_menu_that_needs_more_than_its_target_asks_in_a_form() -> None:
    registry = Registry.from_package()
    report = registry.specs[("report",)]
    form = menu_form(report, "Report message", {})
    assert form is not None and form.path == ("report",)
    assert [(f.name, f.required, f.multiline) for f in form.fields] == [
        ("category", True, False),
        ("reason", False, True),
    ]
    assert form.fields[0].placeholder is not None and "harassment" in form.fields[0].placeholder
    assert menu_form(registry.specs[("share",)], "Share", {}) is None
    assert menu_form(registry.specs[("profile",)], "View profile", {"member": "<@1>"}) is None


async def test_commands_are_published_with_groups_typed_options_and_menus(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)):
        sync = await double.wait_for_rest("PUT", "/applications/{application_id}/commands")
    published = {(c["name"], c.get("type", 1)): c for c in sync.json}
    assert {("Like", 3), ("Share", 3), ("View profile", 2), ("thread", 1), ("profile", 1)} <= set(published)
    thread = {o["name"]: o for o in published[("thread", 1)]["options"]}
    new = {o["name"]: o for o in thread["new"]["options"]}
    assert thread["new"]["type"] == opt.SUB_COMMAND
    assert (new["title"]["type"], new["title"]["required"], new["title"]["max_length"]) == (
        opt.STRING,
        True,
        100,
    )
    assert new["body"]["required"] is True
    listing = {o["name"]: o for o in thread["list"]["options"]}
    assert [c["value"] for c in listing["order"]["choices"]] == ["latest", "replies", "likes"]
    assert (listing["page"]["type"], listing["page"]["min_value"], listing["page"]["max_value"]) == (
        opt.INTEGER,
        1,
        10_000,
    )
    assert {o["name"]: o for o in thread["show"]["options"]}["thread"]["autocomplete"] is True
    profile = {o["name"]: o for o in published[("profile", 1)]["options"]}
    assert profile["show"]["options"][0]["type"] == opt.USER  # a member is Discord's user picker
    assert published[("thread", 1)]["contexts"] == [0]  # guilds only


# -- slash commands ------------------------------------------------------------------------------


async def test_thread_new_in_a_forum_creates_a_forum_post_and_answers(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        first = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete, normal ECG"
        )
        asked = await double.run_slash_command(
            "thread",
            opt.subcommand(
                "new",
                opt.string("title", "AF anticoagulation"),
                opt.string("body", "CHA2DS2-VASc 3, now what?"),
            ),
            user_id=community.bob,
            channel_id=first,
        )
        said = await answer(double, asked)
        created = await double.wait_for_rest("POST", f"/channels/{community.forum}/threads")
        assert created.json["name"] == "AF anticoagulation"
        assert "CHA2DS2-VASc 3, now what?" in created.json["message"]["content"]
        assert created.json["message"]["allowed_mentions"] == {"parse": []}
        post_id = created.response["id"]
        assert said["type"] == 4 and not said["data"].get("flags", 0) & EPHEMERAL
        assert "**AF anticoagulation** started in questions" in said["data"]["content"]
        link = f"https://discord.com/channels/{community.guild_id}/{post_id}/{post_id}"
        assert link in said["data"]["content"]
        await forum.settle()
        thread = forum.thread(int(post_id))
        assert (thread.title, thread.reply_count) == ("AF anticoagulation", 0)
        assert forum.member(community.bob).threads_started == 1


async def test_thread_new_in_a_text_channel_posts_and_starts_a_thread_on_the_post(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        asked = await double.run_slash_command(
            "thread",
            opt.subcommand("new", opt.string("title", "Night shifts"), opt.string("body", "Tips?")),
            user_id=community.alice,
            channel_id=community.general,
        )
        said = await answer(double, asked)
        opening = await double.wait_for_rest("POST", f"/channels/{community.general}/messages")
        message_id = opening.response["id"]
        started = await double.wait_for_rest(
            "POST", f"/channels/{community.general}/messages/{message_id}/threads"
        )
        assert started.json["name"] == "Night shifts"
        assert f"/channels/{community.guild_id}/{community.general}/{message_id}" in said["data"]["content"]
        reply_id = await reply(forum, int(message_id), community.bob, "Blackout curtains.")
        await forum.settle()
        assert forum.thread(int(message_id)).reply_count == 1
        assert forum.post(reply_id).thread_id == forum.thread(int(message_id)).id


async def test_a_usage_problem_is_answered_privately(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)):
        asked = await double.run_slash_command(
            "thread", opt.subcommand("show"), user_id=community.alice, channel_id=community.general
        )
        said = await answer(double, asked)
        assert said["data"]["flags"] & EPHEMERAL
        assert "Name a thread" in said["data"]["content"]


async def test_a_moderator_command_is_refused_in_slash_syntax(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)):
        asked = await double.run_slash_command(
            "thread", opt.subcommand("lock"), user_id=community.alice, channel_id=community.general
        )
        said = await answer(double, asked)
        assert said["data"]["flags"] & EPHEMERAL
        assert said["data"]["content"] == "`/thread lock` is for moderators."


async def test_slow_work_is_deferred_then_the_placeholder_becomes_the_answer(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    release = asyncio.Event()

    @command("ponder", help="Think for a while before answering.")
    async def ponder(ctx: Context) -> OutgoingMessage:
        await release.wait()  # held until the test has seen the deferral
        return ctx.say("Thought it through.")

    tuning = dataclasses.replace(TEST_TUNING, defer_after=0.05)
    async with discord_forum(double, sqlite_url(tmp_path), tuning=tuning, commands=(commands(ponder),)):
        asked = await double.run_slash_command(
            "ponder", user_id=community.alice, channel_id=community.general
        )
        deferred = await answer(double, asked)
        assert deferred["type"] == 5  # "chatbridge-test is thinking…", inside Discord's 3 seconds
        release.set()
        edit = await double.wait_for_rest(
            "PATCH", f"/webhooks/{double.world.application_id}/{asked.token}/messages/@original"
        )
        assert edit.json["content"] == "Thought it through."
        assert edit.json["allowed_mentions"] == {"parse": []}
        assert asked.response_types == [5]


# -- autocomplete ---------------------------------------------------------------------------------


async def test_thread_options_autocomplete_titles_from_the_store(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Young athlete")
        await forum_post(
            forum, community.forum, community.alice, "Statins in the elderly", "Primary prevention at 80?"
        )
        typing = await double.autocomplete(
            "thread",
            opt.subcommand("show", opt.string("thread", "sync", focused=True)),
            user_id=community.bob,
            channel_id=community.general,
        )
        said = await answer(double, typing)
        assert said["type"] == 8
        choices = said["data"]["choices"]
        assert [c["value"] for c in choices] == ["#1"]
        assert choices[0]["name"] == "#1 Syncope work-up · questions"


async def test_the_country_autocompletes_only_while_setting_the_country(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)):
        typing = await double.autocomplete(
            "profile",
            opt.subcommand("set", opt.string("field", "country"), opt.string("value", "egy", focused=True)),
            user_id=community.alice,
            channel_id=community.general,
        )
        choices = (await answer(double, typing))["data"]["choices"]
        assert choices[0] == {"name": "🇪🇬 Egypt", "value": "Egypt"}
        assert len(choices) <= 25 and all(len(c["name"]) <= 100 for c in choices)
        bio = await double.autocomplete(
            "profile",
            opt.subcommand("set", opt.string("field", "bio"), opt.string("value", "egy", focused=True)),
            user_id=community.alice,
            channel_id=community.general,
        )
        assert (await answer(double, bio))["data"]["choices"] == []


# -- context menus ---------------------------------------------------------------------------------


async def test_like_from_the_message_menu_counts_once_and_answers_privately(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete"
        )
        answer_id = await reply(forum, thread_id, community.bob, "Check the QT interval.")
        liked = await double.use_message_command(
            "Like", channel_id=thread_id, message_id=answer_id, user_id=community.alice
        )
        said = await answer(double, liked)
        assert said["data"]["flags"] & EPHEMERAL and said["data"]["content"] == "Liked. 👍"
        again = await double.use_message_command(
            "Like", channel_id=thread_id, message_id=answer_id, user_id=community.alice
        )
        assert (await answer(double, again))["data"]["content"] == "You already like that post."
        assert forum.post(answer_id).like_count == 1
        assert forum.member(community.bob).likes_received == 1


async def test_share_from_the_message_menu_links_the_post_in_context(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Syncope work-up", "Young athlete, normal ECG"
        )
        shared = await double.use_message_command(
            "Share", channel_id=thread_id, message_id=thread_id, user_id=community.bob
        )
        text = (await answer(double, shared))["data"]["content"]
        assert "**Syncope work-up** · in 'questions' · started by Alice Adams" in text
        assert "Young athlete, normal ECG" in text
        assert f"https://discord.com/channels/{community.guild_id}/{thread_id}/{thread_id}" in text


async def test_view_profile_from_the_user_menu_shows_their_card(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        await forum_post(forum, community.forum, community.alice, "Syncope work-up", "Young athlete")
        viewed = await double.use_user_command(
            "View profile", target_id=community.alice, channel_id=community.general, user_id=community.bob
        )
        said = await answer(double, viewed)
        assert said["data"]["content"].startswith("**Alice Adams** · ")
        assert "Messages: 1" in said["data"]["content"]
        (invocation,) = await forum.applied.wait(lambda e: isinstance(e, CommandInvoked))
        assert isinstance(invocation, CommandInvoked)
        assert invocation.target_user is not None and invocation.target_user.user_id == str(community.alice)


async def test_report_message_asks_for_the_rest_in_a_modal_and_files_the_report(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id = await forum_post(
            forum, community.forum, community.alice, "Statins", "Stop them all at 75, trust me"
        )
        reported = await double.use_message_command(
            "Report message", channel_id=thread_id, message_id=thread_id, user_id=community.bob
        )
        modal = await answer(double, reported)
        assert modal["type"] == 9 and modal["data"]["title"] == "Report message"
        # The current modal layout: each text box in a Label (type 18), not an Action Row.
        labels = modal["data"]["components"]
        assert [(c["type"], c["component"]["type"], c["component"]["custom_id"]) for c in labels] == [
            (18, 4, "category"),
            (18, 4, "reason"),
        ]
        assert all(c["label"] and not c["component"].get("label") for c in labels)
        submitted = await double.submit_modal(
            reported, {"category": "misinformation", "reason": "Advice against guidelines"}
        )
        said = await answer(double, submitted)
        assert said["data"]["flags"] & EPHEMERAL
        (invocation,) = await forum.applied.wait(
            lambda e: isinstance(e, CommandInvoked) and e.path == ("report",)
        )
        assert isinstance(invocation, CommandInvoked)
        assert invocation.options == {"category": "misinformation", "reason": "Advice against guidelines"}
        assert invocation.target is not None and invocation.target.message_id == str(thread_id)


# -- forms and buttons --------------------------------------------------------------------------


@command("card edit", help="Edit your card in one form.", ephemeral=True)
async def card_edit(
    ctx: Context,
    specialty: Annotated[str | None, Param("Your specialty")] = None,
    bio: Annotated[str | None, Param("About you", rest=True)] = None,
) -> OutgoingMessage:
    """How `profile edit` can ask for a modal: no options -> a Form prefilled from the card."""
    if specialty is None and bio is None:
        current = _current(ctx)
        form = Form(
            "Your member card",
            ("card", "edit"),
            (
                FormField("specialty", "Specialty", value=current.get("specialty", ""), max_length=80),
                FormField("bio", "About you", value=current.get("bio", ""), multiline=True, max_length=300),
            ),
        )
        return OutgoingMessage(
            "Use `!profile set <field> <value>` to edit your card.", ephemeral=True, form=form
        )
    for field, value in (("specialty", specialty), ("bio", bio)):
        if value:
            profiles.set_field(ctx.session, ctx.member, profiles.Field(field), value, ctx.now)
    return ctx.say("Your card is updated.")


def _current(ctx: Context) -> dict[str, str]:
    rows = [ctx.session.get(ProfileField, (ctx.member.id, name)) for name in ("specialty", "bio")]
    return {row.field: row.value for row in rows if row is not None}


async def test_a_handler_can_answer_with_a_form_shown_as_a_prefilled_modal(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path), commands=(commands(card_edit),)) as forum:
        first = await double.run_slash_command(
            "card", opt.subcommand("edit"), user_id=community.alice, channel_id=community.general
        )
        modal = await answer(double, first)
        assert modal["type"] == 9 and modal["data"]["custom_id"] == "cb:f:card/edit"
        submitted = await double.submit_modal(first, {"specialty": "Cardiology", "bio": "Night owl"})
        assert (await answer(double, submitted))["data"]["content"] == "Your card is updated."
        again = await double.run_slash_command(
            "card", opt.subcommand("edit"), user_id=community.alice, channel_id=community.general
        )
        refilled = await answer(double, again)
        inputs = [
            component
            for row in refilled["data"]["components"]
            for component in row.get("components", [row.get("component")])
        ]
        assert {c["custom_id"]: c.get("value") for c in inputs} == {
            "specialty": "Cardiology",
            "bio": "Night owl",
        }
        with forum.store() as session:
            member = forum.member(community.alice)
            stored = session.get(ProfileField, (member.id, "specialty"))
            assert stored is not None and stored.value == "Cardiology"


@command("demo card", help="Post a card with buttons.")
async def demo_card(ctx: Context) -> OutgoingMessage:
    return OutgoingMessage(
        "Case #7: a report about a post in questions.",
        actions=(
            Action("Claim", ("demo", "claim"), {"case": "7"}, style="primary"),
            Action("Dismiss", ("demo", "claim"), {"case": "7", "dismiss": "yes"}, style="danger"),
        ),
    )


@command("demo claim", help="Claim a case from its card.", ephemeral=True)
async def demo_claim(
    ctx: Context,
    case: Annotated[int, Param("The case number")],
    dismiss: Annotated[str | None, Param("Dismiss instead")] = None,
) -> OutgoingMessage:
    verb = "dismissed" if dismiss else "claimed"
    target = ctx.target.message_id if ctx.target else "?"
    return ctx.say(f"Case #{case} {verb} by {ctx.member.display_name} (card {target}).")


async def test_buttons_keep_working_after_a_restart(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    url = sqlite_url(tmp_path)
    module = commands(demo_card, demo_claim)
    async with discord_forum(double, url, commands=(module,)):
        posted = await double.run_slash_command(
            "demo", opt.subcommand("card"), user_id=community.bob, channel_id=community.general
        )
        sent = await answer(double, posted)
        buttons = sent["data"]["components"][0]["components"]
        assert [(b["label"], b["custom_id"], b["style"]) for b in buttons] == [
            ("Claim", "cb:a:demo/claim?case=7", 1),
            ("Dismiss", "cb:a:demo/claim?case=7&dismiss=yes", 4),
        ]
        assert posted.original_message_id is not None
        card = double.world.message(community.general, posted.original_message_id)

    async with discord_forum(double, url, commands=(module,)):  # a new process: nothing in memory
        click = await double.click_button(card, "cb:a:demo/claim?case=7", user_id=community.bob)
        said = await answer(double, click)
        assert said["data"]["content"] == f"Case #7 claimed by Dr. Bob (card {card['id']})."
        assert said["data"]["flags"] & EPHEMERAL


# -- mentions ----------------------------------------------------------------------------------------


Pick = Callable[[dict[str, Any]], dict[str, Any]]
MENTION_CARRIERS: tuple[tuple[str, str, Pick], ...] = (
    ("POST", "/channels/{channel_id}/messages", lambda body: body),
    ("POST", "/channels/{channel_id}/threads", lambda body: body.get("message", {})),
    ("POST", "/interactions/{interaction_id}/{token}/callback", lambda body: body.get("data") or {}),
    ("POST", "/webhooks/{application_id}/{token}", lambda body: body),
    ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", lambda body: body),
    ("PATCH", "/webhooks/{application_id}/{token}/messages/@original", lambda body: body),
)


@pytest.mark.parametrize("text_commands", [True, False])
async def test_no_title_name_or_bio_can_make_the_bot_ping_anyone(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path, text_commands: bool
) -> None:
    double = discord_py_on_double
    role = f"<@&{community.moderator_role}>"
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        thread_id, _ = await double.create_forum_post(
            community.forum, community.alice, f"@everyone {role} read this", f"@here <@{community.bob}>"
        )
        await forum.applied.wait(lambda e: isinstance(e, MessagePosted) and e.starts_thread)
        if text_commands:
            await double.post_message(thread_id, community.bob, "!thread show here")
            await double.post_message(thread_id, community.bob, "!profile set bio @everyone is welcome")
            await double.wait_for_rest("POST", "/channels/{channel_id}/messages", count=2)
        else:
            shown = await double.run_slash_command(
                "thread",
                opt.subcommand("new", opt.string("title", f"@everyone {role}"), opt.string("body", "@here")),
                user_id=community.alice,
                channel_id=thread_id,
            )
            await answer(double, shown)
            shared = await double.use_message_command(
                "Share", channel_id=thread_id, message_id=thread_id, user_id=community.bob
            )
            await answer(double, shared)
        await forum.settle()
    carried = [
        (call, pick(call.json))
        for method, path, pick in MENTION_CARRIERS
        for call in double.calls(method, path)
        if isinstance(call.json, dict)
    ]
    bot_messages = [(call, body) for call, body in carried if "content" in body]
    assert bot_messages, "the bot said nothing"
    for call, body in bot_messages:
        allowed = body.get("allowed_mentions")
        assert allowed == {"parse": []}, f"{call}: {allowed}"
    stored = [m for channel in double.world.messages.values() for m in channel.values()]
    bot_said = [m for m in stored if m["author"]["id"] == str(double.world.bot_id)]
    assert bot_said and all(not m["mention_everyone"] and not m["mention_roles"] for m in bot_said)
