"""The Discord double speaks enough Discord for the *real* discord.py client.

Nothing from discord.py is mocked: each test starts a genuine ``discord.Client`` or
``commands.Bot`` against the double's REST and gateway on 127.0.0.1 and checks what both sides
observed.  Waiting is event-driven (``client.wait_for`` registers its listener synchronously, the
double's ``wait_*`` helpers check history first), so no test sleeps or asserts on timing.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from support.discord_double import (
    Community,
    DiscordDouble,
    FastReidentify,
    Intent,
    client_options,
    events,
    payloads,
    pointing_discord_py_at,
    running,
    seed_community,
    shard_for,
)
from support.discord_double import options as opt
from support.discord_double.transport import ZLIB_SUFFIX, ZlibStreamEncoder


def bot_intents() -> discord.Intents:
    """What a forum bridge asks for: defaults plus the privileged members and message content."""
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    return intents


class Client(FastReidentify, discord.Client):
    """A plain client that re-identifies without discord.py's 5 s courtesy pause."""


def new_client(intents: discord.Intents | None = None) -> Client:
    return Client(intents=intents or bot_intents(), **client_options())


def guild_of(client: discord.Client, guild_id: int) -> discord.Guild:
    guild = client.get_guild(guild_id)
    assert guild is not None, f"client does not know guild {guild_id}"
    return guild


def member_of(client: discord.Client, guild_id: int, user_id: int) -> discord.Member:
    member = guild_of(client, guild_id).get_member(user_id)
    assert member is not None, f"guild {guild_id} has no cached member {user_id}"
    return member


# -- connecting ---------------------------------------------------------------------------------


async def test_client_connects_and_sees_guild_channels_forum_and_thread(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        guild = client.get_guild(community.guild_id)
        assert guild is not None and not guild.unavailable
        general = guild.get_channel(community.general)
        forum = guild.get_channel(community.forum)
        assert isinstance(general, discord.TextChannel) and general.name == "general"
        assert isinstance(forum, discord.ForumChannel)
        assert {tag.name: tag.moderated for tag in forum.available_tags} == {
            "cardiology": False,
            "neurology": False,
            "answered": True,
        }
        thread = guild.get_thread(community.thread)
        assert thread is not None and thread.parent_id == community.general
        # Members intent without presences: GUILD_CREATE holds only the bot, the rest is chunked.
        assert {m.id for m in guild.members} >= {community.alice, community.bob, double.world.bot_id}
        assert member_of(client, community.guild_id, community.bob).get_role(community.moderator_role)
        assert client.user is not None and client.user.id == double.world.bot_id
        assert client.application_id == double.world.application_id

    identify = double.identifies[0]
    assert identify.intents == bot_intents().value
    assert identify.payload["properties"]["browser"] == "discord.py"
    query = double.gateway.connection_log[0].query
    assert (query["v"], query["encoding"]) == ("10", "json")
    # zlib-stream here; discord.py switches to zstd-stream when `zstandard` is importable.
    assert query["compress"] in ("zlib-stream", "zstd-stream")
    assert [(c.method, c.path) for c in double.rest_calls] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
    ]
    chunk_requests = [f for f in double.gateway.frames if f.direction == "in" and f.op == 8]
    assert [f.data["guild_id"] for f in chunk_requests] == [community.guild_id]


def test_zlib_stream_frames_share_one_context_and_end_in_sync_flush() -> None:
    encoder = ZlibStreamEncoder()
    first, second = encoder.encode('{"op":10}'), encoder.encode('{"op":11}')
    assert first.endswith(ZLIB_SUFFIX) and second.endswith(ZLIB_SUFFIX)
    inflate = zlib.decompressobj()
    assert inflate.decompress(first) == b'{"op":10}'
    assert inflate.decompress(second) == b'{"op":11}'  # only decodable with the shared context


async def test_pointing_context_manager_restores_discord_py_endpoints(discord_double: DiscordDouble) -> None:
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    with pointing_discord_py_at(discord_double):
        assert discord_double.api_base == Route.BASE
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == discord_double.gateway_url
    assert (base, gateway) == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_heartbeats_are_acknowledged_and_server_can_request_one(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        await double.wait_heartbeat()  # discord.py beats immediately after HELLO
        beats = len([f for f in double.gateway.frames if f.direction == "in" and f.op == 1])
        await double.request_heartbeat()
        await double.wait_heartbeat(count=beats + 1)
        acks = [f for f in double.gateway.frames if f.direction == "out" and f.op == 11]
        assert len(acks) >= beats
        assert client.latency != float("inf")


async def test_privileged_intent_not_enabled_in_portal_closes_with_4014(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    double.world.portal_intents = Intent.GUILD_MEMBERS  # MESSAGE_CONTENT not "approved"
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running(new_client(), double):
            pass


# -- messages -----------------------------------------------------------------------------------


async def test_on_message_receives_a_member_post(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        waiter = client.wait_for("message", check=lambda m: m.author.id == community.alice)
        posted = await double.post_message(
            community.general, community.alice, "Anyone read the new ESC guideline?"
        )
        message = await waiter
        assert message.id == int(posted["id"])
        assert message.content == "Anyone read the new ESC guideline?"
        assert isinstance(message.author, discord.Member) and message.author.guild.id == community.guild_id
        assert message.channel.id == community.general


async def test_raw_dispatch_with_payload_builders(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    world = double.world
    async with running(new_client(), double) as client:
        message = payloads.message(
            double.snowflakes.next(), community.thread, world.user(community.bob), "Lead II looks odd"
        )
        data = events.message_create(
            message, guild_id=community.guild_id, author_member=community.guild.member(community.bob)
        )
        waiter = client.wait_for("message")
        assert await double.dispatch("MESSAGE_CREATE", data) != []
        received = await waiter
        assert isinstance(received.channel, discord.Thread)
        assert isinstance(received.author, discord.Member)
        assert received.author.get_role(community.moderator_role) is not None


async def test_message_content_is_empty_without_the_intent_unless_the_bot_is_mentioned(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    intents = bot_intents()
    intents.message_content = False
    async with running(new_client(intents), double) as client:
        waiter = client.wait_for("message")
        await double.post_message(community.general, community.alice, "private clinical detail")
        assert (await waiter).content == ""
        waiter = client.wait_for("message")
        await double.post_message(community.general, community.alice, f"<@{double.world.bot_id}> help")
        mentioned = await waiter
        assert mentioned.content == f"<@{double.world.bot_id}> help"
        assert client.user in mentioned.mentions


async def test_sent_message_is_recorded_with_allowed_mentions_and_readable_back(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        echo = client.wait_for("message", check=lambda m: m.author == client.user)
        sent = await channel.send(
            f"Thanks <@{community.alice}>!",
            allowed_mentions=discord.AllowedMentions.none(),
        )
        call = await double.wait_for_rest("POST", f"/channels/{community.general}/messages")
        assert call.json["content"] == f"Thanks <@{community.alice}>!"
        assert call.json["allowed_mentions"] == {"parse": []}
        assert sent.mentions == []  # the double honours allowed_mentions like Discord
        assert (await echo).id == sent.id  # Discord echoes the bot's own message over the gateway
        fetched = await channel.fetch_message(sent.id)
        assert fetched.content == sent.content and fetched.author == client.user


async def test_edits_and_deletions_reach_the_client(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        posted = await double.post_message(community.general, community.alice, "typo")
        message_id = int(posted["id"])
        edited = client.wait_for("raw_message_edit")
        await double.edit_message(community.general, message_id, "fixed")
        assert (await edited).data["content"] == "fixed"
        deleted = client.wait_for("raw_message_delete")
        await double.delete_message(community.general, message_id, by=community.bob)
        assert (await deleted).message_id == message_id
        entries = [entry async for entry in guild_of(client, community.guild_id).audit_logs(limit=5)]
        assert entries[0].action is discord.AuditLogAction.message_delete
        assert entries[0].user_id == community.bob


# -- reactions ----------------------------------------------------------------------------------


async def test_raw_reaction_add_and_reaction_users_for_backfill(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    posted = await double.post_message(community.general, community.bob, "Case of the week", dispatch=False)
    message_id = int(posted["id"])
    async with running(new_client(), double) as client:
        waiter = client.wait_for("raw_reaction_add")
        await double.add_reaction(community.general, message_id, "👍", community.alice)
        event = await waiter
        assert (event.user_id, event.message_id, str(event.emoji)) == (community.alice, message_id, "👍")
        assert event.member is not None and event.member.id == community.alice
        assert event.message_author_id == community.bob

        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.fetch_message(message_id)
        await message.add_reaction("👍")
        await double.wait_for_rest(
            "PUT", f"/channels/{community.general}/messages/{message_id}/reactions/👍/@me"
        )
        message = await channel.fetch_message(message_id)
        reaction = message.reactions[0]
        assert (reaction.count, reaction.me) == (2, True)
        users = {user.id async for user in reaction.users()}
        assert users == {community.alice, double.world.bot_id}
        listing = double.calls("GET", f"/channels/{community.general}/messages/{message_id}/reactions/👍")
        # Discord pages reaction users by ascending id (``after`` is a user id).
        assert [u["id"] for u in listing[-1].response] == sorted(str(u) for u in users)


# -- history / backfill -------------------------------------------------------------------------


async def test_history_pages_like_discord_for_backfill(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    start = datetime.now(UTC) - timedelta(hours=3)
    posted = [
        await double.post_message(
            community.general,
            community.alice,
            f"offline {i}",
            at=start + timedelta(minutes=i),
            dispatch=False,
        )
        for i in range(7)
    ]
    ids = [int(m["id"]) for m in posted]
    async with running(new_client(), double) as client:
        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        newest_three = [m.id async for m in channel.history(limit=3)]
        assert newest_three == ids[::-1][:3]
        after_second = [m.id async for m in channel.history(limit=None, after=discord.Object(ids[1]))]
        assert after_second == ids[2:]
        around = [m.id async for m in channel.history(limit=3, around=discord.Object(ids[3]))]
        assert sorted(around) == ids[2:5]
        assert posted[0]["timestamp"].startswith(start.date().isoformat())
    queries = [call.query for call in double.calls("GET", f"/channels/{community.general}/messages")]
    assert {"limit": "3"} in queries and {"limit": "100", "after": str(ids[1])} in queries


# -- threads and forums -------------------------------------------------------------------------


async def test_bot_creates_forum_post_with_tags(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        forum = client.get_channel(community.forum)
        assert isinstance(forum, discord.ForumChannel)
        tag = forum.get_tag(community.tag("cardiology"))
        assert tag is not None
        created = client.wait_for("thread_create")
        post = await forum.create_thread(
            name="AF anticoagulation", content="CHA2DS2-VASc 3, now what?", applied_tags=[tag]
        )
        call = await double.wait_for_rest("POST", f"/channels/{community.forum}/threads")
        assert call.json["message"]["content"] == "CHA2DS2-VASc 3, now what?"
        assert call.json["applied_tags"] == [str(tag.id)]
        assert post.thread.id == post.message.id  # forum post and starter message share an id
        assert (await created).id == post.thread.id
        assert [t.id for t in post.thread.applied_tags] == [tag.id]
        stored = double.world.channel(post.thread.id)
        assert stored["parent_id"] == str(community.forum) and stored["applied_tags"] == [str(tag.id)]


async def test_member_forum_post_arrives_as_thread_create_then_message(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        thread_waiter = client.wait_for("thread_create")
        message_waiter = client.wait_for("message")
        thread_id, _ = await double.create_forum_post(
            community.forum,
            community.alice,
            "Syncope work-up",
            "Young athlete, normal ECG",
            tags=["cardiology"],
        )
        thread = await thread_waiter
        message = await message_waiter
        assert thread.id == thread_id == message.id and thread.owner_id == community.alice
        assert message.channel.id == thread_id and message.content == "Young athlete, normal ECG"


# -- members and moderation ---------------------------------------------------------------------


async def test_member_join_and_leave(discord_py_on_double: DiscordDouble, community: Community) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        joined = client.wait_for("member_join")
        await double.member_joins(community.guild_id, community.carol)
        assert (await joined).id == community.carol
        left = client.wait_for("raw_member_remove")
        await double.member_leaves(community.guild_id, community.carol)
        assert (await left).user.id == community.carol


async def test_bot_timeout_is_recorded_with_reason_and_audited(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        member = member_of(client, community.guild_id, community.alice)
        audit = client.wait_for("audit_log_entry_create")
        updated = client.wait_for("member_update")
        await member.timeout(timedelta(minutes=10), reason="Sharing patient identifiers")
        call = await double.wait_for_rest("PATCH", "/guilds/{guild_id}/members/{user_id}")
        assert call.path == f"/guilds/{community.guild_id}/members/{community.alice}"
        assert call.json["communication_disabled_until"] is not None
        assert call.audit_log_reason == "Sharing patient identifiers"
        entry = await audit
        assert entry.action is discord.AuditLogAction.member_update
        assert entry.reason == "Sharing patient identifiers"
        assert (
            isinstance(entry.target, discord.Member | discord.Object) and entry.target.id == community.alice
        )
        _before, after = await updated
        assert after.is_timed_out()


async def test_timeout_forbidden_surfaces_discords_error(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    double.deny_permission("PATCH", "/guilds/{guild_id}/members/{user_id}")
    async with running(new_client(), double) as client:
        member = member_of(client, community.guild_id, community.bob)
        with pytest.raises(discord.Forbidden) as raised:
            await member.timeout(timedelta(minutes=5))
        assert (raised.value.status, raised.value.code, raised.value.text) == (
            403,
            50013,
            "Missing Permissions",
        )


async def test_timeout_done_by_hand_arrives_as_audit_log_entry(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        audit = client.wait_for("audit_log_entry_create")
        until = datetime.now(UTC) + timedelta(hours=1)
        await double.timeout_by_hand(
            community.guild_id, community.bob, community.alice, until, reason="flooding"
        )
        entry = await audit
        assert (entry.user_id, entry.reason) == (community.bob, "flooding")
        assert (
            isinstance(entry.target, discord.Member | discord.Object) and entry.target.id == community.alice
        )
        assert entry.after.timed_out_until == until
        fetched = [
            e
            async for e in guild_of(client, community.guild_id).audit_logs(user=discord.Object(community.bob))
        ]
        assert [e.id for e in fetched] == [entry.id]


# -- interactions -------------------------------------------------------------------------------


class ReasonModal(discord.ui.Modal, title="Report"):
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Why?", custom_id="reason")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Reported: {self.reason.value}", ephemeral=True)


class AckView(discord.ui.View):
    @discord.ui.button(label="Acknowledge", custom_id="ack")
    async def ack(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content=f"Acknowledged by {interaction.user.name}", view=None)


def forum_bot(guild_id: int, seen: dict[str, Any]) -> commands.Bot:
    """A bot with the command shapes the forum layer uses, registered as guild commands."""
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=bot_intents(), **client_options())
    guild = discord.Object(guild_id)
    case = app_commands.Group(name="case", description="Case discussions")
    notes = app_commands.Group(name="notes", description="Case notes", parent=case)

    @notes.command(name="add", description="Add a note")
    async def add_note(
        interaction: discord.Interaction,
        title: str,
        urgency: app_commands.Range[int, 1, 5],
        patient: discord.Member,
        weight: float,
        public: bool,
    ) -> None:
        seen["note"] = (title, urgency, patient, weight, public)
        await interaction.response.send_message(f"Noted: {title}", ephemeral=True)

    @app_commands.command(name="topic", description="Pick a topic")
    async def topic(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    @topic.autocomplete("name")
    async def topic_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=t, value=t)
            for t in ("cardiology", "cardiac surgery")
            if t.startswith(current)
        ]

    @app_commands.command(name="report", description="Report something")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ReasonModal())

    @app_commands.context_menu(name="Quote in forum")
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        seen["quoted"] = message
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"Quoted {message.author.name}")

    @app_commands.context_menu(name="Member card")
    async def card(interaction: discord.Interaction, member: discord.Member) -> None:
        seen["card"] = member
        await interaction.response.send_message(f"Card for {member.display_name}", ephemeral=True)

    command: app_commands.Group | app_commands.Command[Any, Any, Any] | app_commands.ContextMenu
    for command in (case, topic, report, quote, card):
        bot.tree.add_command(command, guild=guild)
    return bot


async def test_slash_command_with_subcommand_group_reaches_callback(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    seen: dict[str, Any] = {}
    async with running(forum_bot(community.guild_id, seen), double) as bot:
        synced = await bot.tree.sync(guild=discord.Object(community.guild_id))
        sync_call = await double.wait_for_rest(
            "PUT", "/applications/{application_id}/guilds/{guild_id}/commands"
        )
        assert {c["name"] for c in sync_call.json} == {
            "case",
            "topic",
            "report",
            "Quote in forum",
            "Member card",
        }
        assert all(command.id for command in synced)

        world = double.world
        completed = bot.wait_for("app_command_completion")
        interaction = await double.run_slash_command(
            "case",
            opt.subcommand_group(
                "notes",
                opt.subcommand(
                    "add",
                    opt.string("title", "Chest pain, 54M"),
                    opt.integer("urgency", 4),
                    opt.user("patient", world.user(community.alice), community.guild.member(community.alice)),
                    opt.number("weight", 82.5),
                    opt.boolean("public", False),
                ),
            ),
            user_id=community.bob,
            channel_id=community.general,
        )
        response = await double.wait_for_interaction_response(interaction)
        assert response == {"type": 4, "data": response["data"]}
        assert response["data"]["content"] == "Noted: Chest pain, 54M"
        assert response["data"]["flags"] & payloads.EPHEMERAL_FLAG
        await completed
        title, urgency, patient, weight, public = seen["note"]
        assert (title, urgency, weight, public) == ("Chest pain, 54M", 4, 82.5, False)
        assert isinstance(patient, discord.Member) and patient.id == community.alice
        callback = double.calls("POST", "/interactions/{interaction_id}/{token}/callback")[0]
        assert callback.query == {"with_response": "1"} and "Authorization" not in callback.headers


async def test_autocomplete_returns_choices(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(forum_bot(community.guild_id, {}), double) as bot:
        await bot.tree.sync(guild=discord.Object(community.guild_id))
        interaction = await double.autocomplete(
            "topic",
            opt.string("name", "card", focused=True),
            user_id=community.alice,
            channel_id=community.general,
        )
        response = await double.wait_for_interaction_response(interaction)
        assert response["type"] == 8
        assert [c["value"] for c in response["data"]["choices"]] == ["cardiology", "cardiac surgery"]


async def test_message_and_user_context_menus(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    seen: dict[str, Any] = {}
    posted = await double.post_message(
        community.general, community.alice, "Troponin 0.9, repeat?", dispatch=False
    )
    async with running(forum_bot(community.guild_id, seen), double) as bot:
        await bot.tree.sync(guild=discord.Object(community.guild_id))
        quoted = bot.wait_for("app_command_completion")
        quote = await double.use_message_command(
            "Quote in forum",
            channel_id=community.general,
            message_id=int(posted["id"]),
            user_id=community.bob,
        )
        assert (await double.wait_for_interaction_response(quote))["type"] == 5
        followup = await double.wait_for_rest(
            "POST", f"/webhooks/{double.world.application_id}/{quote.token}"
        )
        await quoted
        assert followup.response["content"] == "Quoted alice"
        assert seen["quoted"].content == "Troponin 0.9, repeat?"
        # The first followup after a deferral edits the "thinking" message (documented behaviour).
        assert followup.response["id"] == str(quote.original_message_id)

        carded = bot.wait_for("app_command_completion")
        card = await double.use_user_command(
            "Member card", target_id=community.alice, channel_id=community.general, user_id=community.bob
        )
        response = await double.wait_for_interaction_response(card)
        await carded
        assert response["data"]["content"] == "Card for Alice Adams"
        assert isinstance(seen["card"], discord.Member)


async def test_button_click_updates_the_message(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("New report in #questions", view=AckView(timeout=None))
        sent = (await double.wait_for_rest("POST", f"/channels/{community.general}/messages")).response
        assert sent["components"][0]["components"][0]["custom_id"] == "ack"
        edited = client.wait_for("raw_message_edit")
        click = await double.click_button(sent, "ack", user_id=community.bob)
        response = await double.wait_for_interaction_response(click)
        assert response["type"] == 7 and response["data"]["components"] == []
        assert (await edited).message_id == int(sent["id"])
        stored = double.world.message(community.general, int(sent["id"]))
        assert stored["content"] == "Acknowledged by bob"


async def test_modal_round_trip(discord_py_on_double: DiscordDouble, community: Community) -> None:
    double = discord_py_on_double
    async with running(forum_bot(community.guild_id, {}), double) as bot:
        await bot.tree.sync(guild=discord.Object(community.guild_id))
        opened = await double.run_slash_command(
            "report", user_id=community.alice, channel_id=community.general
        )
        modal = await double.wait_for_interaction_response(opened)
        assert modal["type"] == 9 and modal["data"]["title"] == "Report"
        submitted = await double.submit_modal(opened, {"reason": "Off-label dosing advice"})
        response = await double.wait_for_interaction_response(submitted)
        assert response["data"]["content"] == "Reported: Off-label dosing advice"


async def test_acknowledging_twice_is_rejected_like_discord(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    client = new_client()

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        await interaction.response.defer()

    async with running(client, double):
        interaction = await double.run_slash_command(
            "anything", user_id=community.alice, channel_id=community.general
        )
        assert (await double.wait_for_interaction_response(interaction))["type"] == 5
        async with aiohttp.ClientSession() as session:
            url = f"{double.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
            async with session.post(url, json={"type": 4, "data": {"content": "again"}}) as reply:
                assert reply.status == 400
                assert await reply.json() == {
                    "message": "Interaction has already been acknowledged.",
                    "code": 40060,
                }


async def test_direct_messages_open_a_dm_channel(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        user = await client.fetch_user(community.alice)
        echo = client.wait_for("message", check=lambda m: isinstance(m.channel, discord.DMChannel))
        sent = await user.send("Your post was moved to #questions")
        opened = await double.wait_for_rest("POST", "/users/@me/channels")
        assert opened.json == {"recipient_id": community.alice}
        assert (await echo).id == sent.id
        assert double.world.open_dm(community.alice)["id"] == str(sent.channel.id)
        reply = client.wait_for("message", check=lambda m: m.author.id == community.alice)
        await double.post_message(sent.channel.id, community.alice, "thanks!")
        assert isinstance((await reply).channel, discord.DMChannel)


async def test_thread_started_from_a_message_takes_its_id(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    posted = await double.post_message(community.general, community.alice, "Interesting ECG", dispatch=False)
    async with running(new_client(), double) as client:
        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.fetch_message(int(posted["id"]))
        thread = await message.create_thread(name="ECG discussion")
        assert thread.id == message.id and thread.parent_id == community.general
        refetched = await channel.fetch_message(message.id)
        assert refetched.thread is not None and refetched.thread.id == thread.id
        in_thread = client.wait_for("message", check=lambda m: m.channel.id == thread.id)
        await double.post_message(thread.id, community.bob, "Looks like Wellens")
        assert (await in_thread).content == "Looks like Wellens"


# -- resilience ---------------------------------------------------------------------------------


async def test_dropped_connection_resumes_and_replays_missed_events(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        resumed = client.wait_for("resumed")
        missed = client.wait_for("message")
        async with double.holding_reconnects():
            await double.drop_connection()
            await double.post_message(community.general, community.alice, "sent while you were away")
        record = await double.wait_resumed()
        assert (await missed).content == "sent while you were away"
        await resumed
        assert record.replayed == ("MESSAGE_CREATE",)
        assert len(double.identifies) == 1  # resumed, not re-identified
        assert double.gateway.connection_log[-1].path == "/resume"  # used resume_gateway_url

        after = client.wait_for("message")
        await double.post_message(community.general, community.bob, "and after")
        assert (await after).content == "and after"


async def test_invalid_session_forces_a_fresh_identify(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        first = await double.wait_identified()
        ready_again = client.wait_for("ready")
        await double.invalidate_session(resumable=False)
        second = await double.wait_identified(count=2)
        await ready_again
        assert second.session_id != first.session_id and double.resumes == []
        waiter = client.wait_for("message")
        await double.post_message(community.general, community.alice, "still here?")
        assert (await waiter).content == "still here?"


async def test_reconnect_request_and_resumable_invalid_session_both_resume(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double):
        await double.request_reconnect()
        first = await double.wait_resumed()
        await double.invalidate_session(resumable=True)
        second = await double.wait_resumed(count=2)
        assert first.session_id == second.session_id == double.identifies[0].session_id
        assert len(double.identifies) == 1


async def test_rejected_resume_falls_back_to_identify(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        ready_again = client.wait_for("ready")
        double.reject_next_resumes()
        await double.drop_connection()
        await double.wait_identified(count=2)
        await ready_again  # let discord.py finish re-chunking before it is closed
        assert double.resumes == []
        resume_frames = [f for f in double.gateway.frames if f.direction == "in" and f.op == 6]
        assert len(resume_frames) == 1


async def test_rate_limited_route_is_waited_out_and_retried(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    path = f"/channels/{community.general}/messages"
    double.rate_limit("POST", path, retry_after=0.2)
    async with running(new_client(), double) as client:
        channel = client.get_channel(community.general)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("eventually")
        attempts = double.calls("POST", path)
        assert [c.status for c in attempts] == [429, 200]
        assert attempts[0].response == {
            "message": "You are being rate limited.",
            "retry_after": 0.2,
            "global": False,
        }
        assert sent.id == int(attempts[1].response["id"])


async def test_unknown_route_is_recorded_and_answered_404(
    discord_py_on_double: DiscordDouble, community: Community
) -> None:
    double = discord_py_on_double
    async with running(new_client(), double) as client:
        with pytest.raises(discord.NotFound):
            await client.http.request(
                Route("GET", "/guilds/{guild_id}/webhooks", guild_id=community.guild_id)
            )
    (unexpected,) = double.unmatched_calls()
    assert (unexpected.method, unexpected.path, unexpected.status) == (
        "GET",
        f"/guilds/{community.guild_id}/webhooks",
        404,
    )


# -- sharding -----------------------------------------------------------------------------------


class ShardedClient(FastReidentify, discord.AutoShardedClient):
    pass


async def test_sharded_client_follows_gateway_bot_and_gets_each_guild_on_its_shard(
    discord_py_on_double: DiscordDouble,
) -> None:
    double = discord_py_on_double
    double.recommended_shards = 2
    world = double.world
    on_zero = world.add_guild("Shard zero", guild_id=double.snowflakes.for_shard(0, 2))
    on_one = world.add_guild("Shard one", guild_id=double.snowflakes.for_shard(1, 2))
    alice = world.add_user("alice")
    on_one.add_member(alice)
    lounge = on_one.add_text_channel("lounge")
    client = ShardedClient(intents=bot_intents(), **client_options())  # no shard_count: asks /gateway/bot
    async with running(client, double):
        assert [c.path for c in double.calls("GET")][:3] == [
            "/users/@me",
            "/oauth2/applications/@me",
            "/gateway/bot",
        ]
        shards = sorted(record.payload["shard"] for record in double.identifies)
        assert shards == [[0, 2], [1, 2]]
        assert guild_of(client, on_zero.id).shard_id == 0 == shard_for(on_zero.id, 2)
        assert guild_of(client, on_one.id).shard_id == 1 == shard_for(on_one.id, 2)
        waiter = client.wait_for("message")
        await double.post_message(lounge, alice, "hello from shard one")
        message = await waiter
        assert message.guild is not None and message.guild.id == on_one.id
        delivered = [f.shard for f in double.gateway.frames if f.event == "MESSAGE_CREATE"]
        assert delivered == [(1, 2)]


def test_seeded_community_is_consistent(discord_double: DiscordDouble) -> None:
    community = seed_community(discord_double.world)
    assert community.guild.permissions_of(community.bob) & discord.Permissions.moderate_members.flag
    assert not community.guild.permissions_of(community.alice) & discord.Permissions.moderate_members.flag


async def test_gateway_protocol_without_discord_py(
    discord_double: DiscordDouble, community: Community
) -> None:
    """Plain JSON transport (no compress param), close codes for a bad token and for skipping IDENTIFY."""
    double = discord_double
    url = f"{double.gateway_url}?v=10&encoding=json"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            hello = await ws.receive_json()
            interval = double.gateway.heartbeat_interval_ms
            assert hello == {"op": 10, "d": {"heartbeat_interval": interval}, "s": None, "t": None}
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513, "properties": {}}})
            closing = await ws.receive()
            assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4004)
        async with session.ws_connect(url) as ws:
            await ws.receive_json()
            await ws.send_json({"op": 8, "d": {"guild_id": str(community.guild_id), "query": "", "limit": 0}})
            assert (await ws.receive()).data == 4003
        async with session.ws_connect(url) as ws:
            await ws.receive_json()
            intents = int(Intent.GUILDS | Intent.GUILD_MESSAGES)
            await ws.send_json({"op": 2, "d": {"token": double.token, "intents": intents, "properties": {}}})
            ready = await ws.receive_json()
            guild_create = await ws.receive_json()
            assert (ready["t"], ready["s"], guild_create["t"], guild_create["s"]) == (
                "READY",
                1,
                "GUILD_CREATE",
                2,
            )
            assert ready["d"]["resume_gateway_url"] == f"ws://127.0.0.1:{double.port}/resume"
            assert ready["d"]["guilds"] == [{"id": str(community.guild_id), "unavailable": True}]
            # Without GUILD_PRESENCES only the bot's own member is included.
            assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(double.world.bot_id)]
            await double.post_message(community.general, community.alice, "plain text frame")
            message = await ws.receive_json()
            assert (message["t"], message["s"], message["d"]["content"]) == ("MESSAGE_CREATE", 3, "")
