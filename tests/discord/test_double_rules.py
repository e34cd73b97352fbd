"""The double refuses what Discord refuses, with Discord's status, code and error body.

Each rule is from discord/discord-api-docs (cited in the double's modules); these tests drive the
double over raw HTTP, the way any client would meet the rule, and the interaction deadlines on
the double's own clock (advanced, never slept).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from support.discord_double import Community, DiscordDouble, Intent, InteractionState, Permission
from support.discord_double.nonces import NONCE_WINDOW

CommandUpload = list[dict[str, Any]]


class Raw:
    """A bare HTTP client of the double: status and JSON of each call, nothing interpreted."""

    def __init__(self, double: DiscordDouble, session: aiohttp.ClientSession) -> None:
        self.double = double
        self.session = session

    async def call(self, method: str, path: str, body: Any = None, *, bot: bool = True) -> tuple[int, Any]:
        headers = {"Authorization": f"Bot {self.double.token}"} if bot else {}
        async with self.session.request(
            method, self.double.api_base + path, json=body, headers=headers
        ) as reply:
            return reply.status, (await reply.json() if reply.status != 204 else None)

    async def callback(self, interaction: InteractionState, body: dict[str, Any]) -> tuple[int, Any]:
        path = f"/interactions/{interaction.id}/{interaction.token}/callback"
        return await self.call("POST", path, body, bot=False)

    async def followup(self, interaction: InteractionState, content: str) -> tuple[int, Any]:
        path = f"/webhooks/{self.double.world.application_id}/{interaction.token}"
        return await self.call("POST", path, {"content": content}, bot=False)

    async def upload(self, commands: CommandUpload) -> tuple[int, Any]:
        path = f"/applications/{self.double.world.application_id}/commands"
        return await self.call("PUT", path, commands)

    async def send(self, channel_id: int, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.call("POST", f"/channels/{channel_id}/messages", body)


@pytest.fixture
async def raw(discord_double: DiscordDouble) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(discord_double, session)


def form_error(errors: dict[str, Any]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def leaf_codes(errors: Any) -> list[str]:
    """The ``_errors`` codes anywhere in a 50035 body."""
    if not isinstance(errors, dict):
        return []
    found = [e["code"] for e in errors.get("_errors", [])]
    for key, value in errors.items():
        if key != "_errors":
            found += leaf_codes(value)
    return found


async def slash(double: DiscordDouble, community: Community) -> InteractionState:
    return await double.run_slash_command("profile", user_id=community.alice, channel_id=community.general)


# -- the 3-second deadline and the 15-minute token ----------------------------------------------


async def test_a_first_response_after_three_seconds_is_an_unknown_interaction(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    interaction = await slash(discord_double, community)
    discord_double.world.clock.advance(3.01)

    assert await raw.callback(interaction, {"type": 5}) == (
        404,
        {"message": "Unknown interaction", "code": 10062},
    )
    # The token died with the deadline: no followup can rescue the interaction.
    assert await raw.followup(interaction, "late") == (
        401,
        {"message": "Invalid Webhook Token", "code": 50027},
    )


async def test_a_first_response_within_three_seconds_is_accepted(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    interaction = await slash(discord_double, community)
    discord_double.world.clock.advance(2.9)

    assert await raw.callback(interaction, {"type": 5}) == (204, None)


async def test_followups_work_for_fifteen_minutes_then_the_token_is_invalid(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    interaction = await slash(discord_double, community)
    assert (await raw.callback(interaction, {"type": 5}))[0] == 204
    discord_double.world.clock.advance(14 * 60)
    assert (await raw.followup(interaction, "still in time"))[0] == 200

    discord_double.world.clock.advance(61)

    assert await raw.followup(interaction, "too late") == (
        401,
        {"message": "Invalid Webhook Token", "code": 50027},
    )


# -- command uploads ---------------------------------------------------------------------------


def command(name: str = "profile", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": 1, "description": "Show a profile", **fields}


def option(name: str, *, required: bool = False, **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": 3, "description": f"The {name}", "required": required, **fields}


@pytest.mark.parametrize(
    ("commands", "path", "code"),
    [
        ([command("Profile")], ("0", "name"), "APPLICATION_COMMAND_INVALID_NAME"),
        ([command("my profile")], ("0", "name"), "APPLICATION_COMMAND_INVALID_NAME"),
        ([command("x" * 33)], ("0", "name"), "BASE_TYPE_BAD_LENGTH"),
        ([command(description="d" * 101)], ("0", "description"), "BASE_TYPE_BAD_LENGTH"),
        ([command(description="")], ("0", "description"), "BASE_TYPE_BAD_LENGTH"),
        ([command(options=[option(f"o{i}") for i in range(26)])], ("0", "options"), "BASE_TYPE_MAX_LENGTH"),
        (
            [command(options=[option("when"), option("who", required=True)])],
            ("0", "options", "1", "required"),
            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
        ),
        (
            [command(options=[option("Who")])],
            ("0", "options", "0", "name"),
            "APPLICATION_COMMAND_INVALID_NAME",
        ),
        (
            [
                command(
                    options=[option("who", choices=[{"name": f"c{i}", "value": f"{i}"} for i in range(26)])]
                )
            ],
            ("0", "options", "0", "choices"),
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [{"name": "x" * 33, "type": 3}],
            ("0", "name"),
            "BASE_TYPE_BAD_LENGTH",
        ),
    ],
    ids=[
        "capital-letter",
        "space",
        "name-33",
        "description-101",
        "description-empty",
        "options-26",
        "required-after-optional",
        "option-capital",
        "choices-26",
        "menu-name-33",
    ],
)
async def test_command_uploads_discord_rejects_are_invalid_form_bodies(
    discord_double: DiscordDouble, raw: Raw, commands: CommandUpload, path: tuple[str, ...], code: str
) -> None:
    status, body = await raw.upload(commands)

    assert (status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body")
    errors = body["errors"]
    for key in path:
        errors = errors[key]
    assert [e["code"] for e in errors["_errors"]] == [code]
    assert discord_double.world.commands.get(None) is None


async def test_command_uploads_within_the_rules_are_stored(raw: Raw) -> None:
    menus = [{"name": "Report message", "type": 3}, {"name": "View Profile", "type": 2}]
    status, stored = await raw.upload(
        [command("profil-é_2", options=[option("who", required=True), option("when")]), *menus]
    )

    assert status == 200
    assert [c["name"] for c in stored] == ["profil-é_2", "Report message", "View Profile"]


@pytest.mark.parametrize(
    "commands",
    [
        [command(f"c{i}") for i in range(101)],
        [{"name": f"Menu {i}", "type": 2} for i in range(16)],
        [{"name": f"Menu {i}", "type": 3} for i in range(16)],
    ],
    ids=["101-slash", "16-user-menus", "16-message-menus"],
)
async def test_too_many_commands_of_a_type_are_refused(raw: Raw, commands: CommandUpload) -> None:
    assert await raw.upload(commands) == (
        400,
        {"message": "Maximum number of application commands reached", "code": 30032},
    )


# -- modals and components ---------------------------------------------------------------------


def text_row(custom_id: str = "why", label: str = "Why") -> dict[str, Any]:
    field = {"type": 4, "custom_id": custom_id, "label": label, "style": 1}
    return {"type": 1, "components": [field]}


def modal(**fields: Any) -> dict[str, Any]:
    return {
        "type": 9,
        "data": {"custom_id": "cb:f:x", "title": "Report", "components": [text_row()], **fields},
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (modal(title="t" * 46), ("data", "title")),
        (modal(components=[text_row(f"f{i}") for i in range(6)]), ("data", "components")),
        (modal(components=[]), ("data", "components")),
        (modal(custom_id="c" * 101), ("data", "custom_id")),
        (
            modal(components=[text_row(label="l" * 46)]),
            ("data", "components", "0", "components", "0", "label"),
        ),
        (
            modal(components=[text_row("i" * 101)]),
            ("data", "components", "0", "components", "0", "custom_id"),
        ),
    ],
    ids=["title-46", "six-rows", "no-rows", "custom-id-101", "label-46", "input-id-101"],
)
async def test_modals_discord_rejects_are_invalid_form_bodies(
    discord_double: DiscordDouble, community: Community, raw: Raw, body: dict[str, Any], path: tuple[str, ...]
) -> None:
    interaction = await slash(discord_double, community)

    status, answer = await raw.callback(interaction, body)

    assert (status, answer["code"]) == (400, 50035)
    errors = answer["errors"]
    for key in path:
        errors = errors[key]
    assert errors["_errors"]
    assert not interaction.acknowledged


def button(custom_id: str, label: str = "Like") -> dict[str, Any]:
    return {"type": 2, "style": 2, "custom_id": custom_id, "label": label}


@pytest.mark.parametrize(
    ("components", "path", "code"),
    [
        (
            [{"type": 1, "components": [button(f"b{i}") for i in range(6)]}],
            ("components", "0", "components"),
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [{"type": 1, "components": [button(f"b{i}")]} for i in range(6)],
            ("components",),
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [{"type": 1, "components": [button("b", "l" * 81)]}],
            ("components", "0", "components", "0", "label"),
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [{"type": 1, "components": [button("b" * 101)]}],
            ("components", "0", "components", "0", "custom_id"),
            "BASE_TYPE_BAD_LENGTH",
        ),
    ],
    ids=["six-buttons-in-a-row", "six-rows", "label-81", "custom-id-101"],
)
async def test_action_rows_discord_rejects_are_invalid_form_bodies(
    community: Community, raw: Raw, components: list[dict[str, Any]], path: tuple[str, ...], code: str
) -> None:
    status, answer = await raw.send(community.general, {"content": "hi", "components": components})

    assert (status, answer["code"]) == (400, 50035)
    errors = answer["errors"]
    for key in path:
        errors = errors[key]
    assert [e["code"] for e in errors["_errors"]] == [code]


async def test_five_rows_of_five_buttons_are_accepted(community: Community, raw: Raw) -> None:
    rows = [{"type": 1, "components": [button(f"b{r}{i}") for i in range(5)]} for r in range(5)]

    assert (await raw.send(community.general, {"content": "hi", "components": rows}))[0] == 200


# -- message bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content": "x" * 2001}, "BASE_TYPE_MAX_LENGTH"),
        (
            {"content": "hi", "allowed_mentions": {"users": [str(i) for i in range(1, 102)]}},
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"content": "hi", "allowed_mentions": {"roles": [str(i) for i in range(1, 102)]}},
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
        ),
        ({"embeds": [{"title": "t" * 257}]}, "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"description": "d" * 4097}]}, "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "MESSAGE_EMBEDS_TOO_LARGE"),
    ],
    ids=[
        "content-2001",
        "users-101",
        "roles-101",
        "parse-and-users",
        "title-257",
        "description-4097",
        "fields-26",
        "embeds-6001",
    ],
)
async def test_message_bodies_discord_rejects_are_invalid_form_bodies(
    community: Community, raw: Raw, body: dict[str, Any], code: str
) -> None:
    status, answer = await raw.send(community.general, body)

    assert (status, answer["code"], leaf_codes(answer["errors"])) == (400, 50035, [code])


async def test_parse_of_one_kind_with_ids_of_another_is_accepted(community: Community, raw: Raw) -> None:
    body = {"content": "hi", "allowed_mentions": {"parse": ["everyone"], "users": [str(community.alice)]}}

    assert (await raw.send(community.general, body))[0] == 200


# -- threads -----------------------------------------------------------------------------------


async def test_thread_names_over_one_hundred_characters_are_refused(community: Community, raw: Raw) -> None:
    status, answer = await raw.call(
        "POST", f"/channels/{community.general}/threads", {"name": "n" * 101, "type": 11}
    )

    assert (status, answer) == (
        400,
        form_error(
            {
                "name": {
                    "_errors": [
                        {"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100 in length."}
                    ]
                }
            }
        ),
    )


async def archived_thread_with_a_bot_message(
    double: DiscordDouble, community: Community, raw: Raw, *, locked: bool = False
) -> str:
    status, sent = await raw.send(community.thread, {"content": "before archiving"})
    assert status == 200
    metadata = double.world.raw_channel(community.thread)["thread_metadata"]
    metadata["archived"] = True
    metadata["locked"] = locked
    return str(sent["id"])


async def test_no_edits_or_reactions_in_an_archived_thread(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    message_id = await archived_thread_with_a_bot_message(discord_double, community, raw)
    archived = (400, {"message": "Thread is archived", "code": 50083})
    path = f"/channels/{community.thread}/messages/{message_id}"

    assert await raw.call("PATCH", path, {"content": "edited"}) == archived
    assert await raw.call("PUT", f"{path}/reactions/%F0%9F%91%8D/@me") == archived


async def test_a_send_unarchives_an_archived_thread(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    await archived_thread_with_a_bot_message(discord_double, community, raw)

    assert (await raw.send(community.thread, {"content": "wake up"}))[0] == 200
    assert discord_double.world.raw_channel(community.thread)["thread_metadata"]["archived"] is False


async def test_a_locked_archived_thread_stays_closed_without_manage_threads(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    await archived_thread_with_a_bot_message(discord_double, community, raw, locked=True)
    guild = community.guild
    bot_role = guild.roles[guild.bot_role_id]
    bot_role["permissions"] = str(int(bot_role["permissions"]) & ~Permission.MANAGE_THREADS)

    assert await raw.send(community.thread, {"content": "let me in"}) == (
        400,
        {"message": "Thread is archived", "code": 50083},
    )
    assert discord_double.world.raw_channel(community.thread)["thread_metadata"]["archived"] is True


async def test_a_locked_archived_thread_reopens_for_a_bot_that_manages_threads(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    await archived_thread_with_a_bot_message(discord_double, community, raw, locked=True)

    assert (await raw.send(community.thread, {"content": "moderator note"}))[0] == 200


async def test_only_manage_threads_reopens_a_locked_thread(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    await archived_thread_with_a_bot_message(discord_double, community, raw, locked=True)
    guild = community.guild
    bot_role = guild.roles[guild.bot_role_id]
    bot_role["permissions"] = str(int(bot_role["permissions"]) & ~Permission.MANAGE_THREADS)

    assert await raw.call("PATCH", f"/channels/{community.thread}", {"archived": False}) == (
        403,
        {"message": "Missing Permissions", "code": 50013},
    )


# -- super-reactions ---------------------------------------------------------------------------


async def test_super_reactions_are_counted_apart_and_listed_by_type(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    _, sent = await raw.send(community.general, {"content": "a post"})
    message_id = int(sent["id"])
    await discord_double.add_reaction(community.general, message_id, "👍", community.alice, burst=True)
    await discord_double.add_reaction(community.general, message_id, "👍", community.bob)
    path = f"/channels/{community.general}/messages/{message_id}"

    (reaction,) = (await raw.call("GET", path))[1]["reactions"]
    assert (reaction["count"], reaction["count_details"]) == (2, {"burst": 1, "normal": 1})
    normal = (await raw.call("GET", f"{path}/reactions/%F0%9F%91%8D"))[1]
    burst = (await raw.call("GET", f"{path}/reactions/%F0%9F%91%8D?type=1"))[1]
    assert ([int(u["id"]) for u in normal], [int(u["id"]) for u in burst]) == (
        [community.bob],
        [community.alice],
    )


# -- channel permission overwrites -------------------------------------------------------------


def overwrite(target: int, *, allow: int = 0, deny: int = 0, member: bool = False) -> dict[str, Any]:
    return {"id": str(target), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}


def overwrites(double: DiscordDouble, channel_id: int, *entries: dict[str, Any]) -> None:
    double.world.raw_channel(channel_id)["permission_overwrites"] = list(entries)


MISSING_ACCESS = (403, {"message": "Missing Access", "code": 50001})
MISSING_PERMISSIONS = (403, {"message": "Missing Permissions", "code": 50013})


async def test_a_channel_the_bot_cannot_view_refuses_sends_and_history(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    overwrites(discord_double, community.general, overwrite(community.guild_id, deny=Permission.VIEW_CHANNEL))

    assert await raw.send(community.general, {"content": "hello?"}) == MISSING_ACCESS
    assert await raw.call("GET", f"/channels/{community.general}/messages") == MISSING_ACCESS


async def test_an_allow_for_the_bots_role_beats_the_everyone_deny(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    overwrites(
        discord_double,
        community.general,
        overwrite(community.guild_id, deny=Permission.VIEW_CHANNEL),
        overwrite(community.guild.bot_role_id, allow=Permission.VIEW_CHANNEL),
    )

    assert (await raw.send(community.general, {"content": "hello"}))[0] == 200


async def test_denied_send_messages_refuses_a_send_but_not_the_history(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    overwrites(
        discord_double,
        community.general,
        overwrite(community.guild.bot_role_id, deny=Permission.SEND_MESSAGES),
    )

    assert await raw.send(community.general, {"content": "hello"}) == MISSING_PERMISSIONS
    assert (await raw.call("GET", f"/channels/{community.general}/messages"))[0] == 200


async def test_without_read_message_history_the_history_is_empty_and_messages_unreadable(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    posted = await discord_double.post_message(community.general, community.alice, "an old message")
    overwrites(
        discord_double,
        community.general,
        overwrite(community.guild.bot_role_id, deny=Permission.READ_MESSAGE_HISTORY),
    )

    assert await raw.call("GET", f"/channels/{community.general}/messages") == (200, [])
    path = f"/channels/{community.general}/messages/{posted['id']}"
    assert await raw.call("GET", path) == MISSING_PERMISSIONS


async def test_threads_need_send_messages_in_threads_and_thread_creation_its_own_permission(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    overwrites(
        discord_double,
        community.general,
        overwrite(
            community.guild.bot_role_id,
            deny=Permission.SEND_MESSAGES_IN_THREADS | Permission.CREATE_PUBLIC_THREADS,
        ),
    )

    assert await raw.send(community.thread, {"content": "in the thread"}) == MISSING_PERMISSIONS
    assert (await raw.send(community.general, {"content": "in the channel"}))[0] == 200
    assert (
        await raw.call("POST", f"/channels/{community.general}/threads", {"name": "New", "type": 11})
        == MISSING_PERMISSIONS
    )


async def test_interactions_carry_the_permissions_in_their_channel(
    discord_double: DiscordDouble, community: Community
) -> None:
    overwrites(
        discord_double,
        community.general,
        overwrite(community.guild.bot_role_id, deny=Permission.SEND_MESSAGES),
        overwrite(community.alice, deny=Permission.ADD_REACTIONS, member=True),
    )

    interaction = await slash(discord_double, community)

    assert not int(interaction.payload["app_permissions"]) & Permission.SEND_MESSAGES
    assert not int(interaction.payload["member"]["permissions"]) & Permission.ADD_REACTIONS
    assert int(interaction.payload["member"]["permissions"]) & Permission.SEND_MESSAGES


# -- Request Guild Members ---------------------------------------------------------------------


async def identified(ws: aiohttp.ClientWebSocketResponse, double: DiscordDouble) -> None:
    await ws.receive_json()  # HELLO
    intents = int(Intent.GUILDS | Intent.GUILD_MEMBERS)
    await ws.send_json({"op": 2, "d": {"token": double.token, "intents": intents, "properties": {}}})
    assert (await ws.receive_json())["t"] == "READY"
    assert (await ws.receive_json())["t"] == "GUILD_CREATE"


async def test_the_whole_member_list_comes_in_chunks_of_a_thousand_once_per_30_seconds(
    discord_double: DiscordDouble, community: Community
) -> None:
    double = discord_double
    for number in range(1500):
        community.guild.add_member(double.world.add_user(f"member{number}"))
    ask = {"guild_id": str(community.guild_id), "query": "", "limit": 0}
    url = f"{double.gateway_url}?v=10&encoding=json"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await identified(ws, double)

        await ws.send_json({"op": 8, "d": {**ask, "nonce": "first"}})
        chunks = [(await ws.receive_json())["d"] for _ in range(2)]
        assert [(c["chunk_index"], c["chunk_count"], len(c["members"])) for c in chunks] == [
            (0, 2, 1000),
            (1, 2, len(community.guild.members) - 1000),
        ]

        double.world.clock.advance(10)
        await ws.send_json({"op": 8, "d": {**ask, "nonce": "again"}})
        limited = await ws.receive_json()
        assert (limited["op"], limited["t"]) == (0, "RATE_LIMITED")
        assert limited["d"]["opcode"] == 8 and 19 < limited["d"]["retry_after"] <= 20
        assert limited["d"]["meta"] == {"guild_id": str(community.guild_id), "nonce": "again"}

        double.world.clock.advance(20)
        await ws.send_json({"op": 8, "d": {**ask, "nonce": "later"}})
        assert (await ws.receive_json())["t"] == "GUILD_MEMBERS_CHUNK"


# -- guild outages -----------------------------------------------------------------------------


async def test_an_unavailable_guild_gets_no_guild_create_until_it_is_restored(
    discord_double: DiscordDouble, community: Community
) -> None:
    double = discord_double
    await double.guild_outage(community.guild_id)
    url = f"{double.gateway_url}?v=10&encoding=json"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json()  # HELLO
        intents = int(Intent.GUILDS)
        await ws.send_json({"op": 2, "d": {"token": double.token, "intents": intents, "properties": {}}})
        ready = await ws.receive_json()
        assert ready["d"]["guilds"] == [{"id": str(community.guild_id), "unavailable": True}]
        await double.wait_identified()
        assert not [f for f in double.gateway.frames if f.event == "GUILD_CREATE"]

        await double.guild_restored(community.guild_id)

        restored = await ws.receive_json()
        assert (restored["t"], restored["d"]["id"], restored["d"]["unavailable"]) == (
            "GUILD_CREATE",
            str(community.guild_id),
            False,
        )


# -- enforce_nonce -----------------------------------------------------------------------------


async def test_an_enforced_nonce_returns_the_first_message_only_within_the_window(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    body = {"content": "Case #5 · open", "nonce": "case-5-card", "enforce_nonce": True}
    _, first = await raw.send(community.general, body)

    _, again = await raw.send(community.general, body)
    assert again["id"] == first["id"]
    discord_double.world.clock.advance(NONCE_WINDOW + 1)
    _, late = await raw.send(community.general, body)

    assert late["id"] != first["id"]
    history = discord_double.world.history(community.general)
    assert [m["content"] for m in history].count("Case #5 · open") == 2


async def test_a_nonce_is_on_the_created_message_but_not_on_the_message_read_back(
    discord_double: DiscordDouble, community: Community, raw: Raw
) -> None:
    _, created = await raw.send(community.general, {"content": "Case #6", "nonce": "case-6"})
    assert created["nonce"] == "case-6"
    status, fetched = await raw.call("GET", f"/channels/{community.general}/messages/{created['id']}")
    assert status == 200 and "nonce" not in fetched
