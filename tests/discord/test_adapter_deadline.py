"""Every interaction is acknowledged within Discord's 3 seconds, however slow REST is.

The double enforces the deadline (404 10062 for a late first callback, 401 50027 for the token it
invalidates) and rate-limits every bot route for 3.5 s, longer than the deadline; interaction
routes are not bound to those limits, so only a bot that fetches before it answers misses it.
Every published slash command and context menu (and the modal a menu opens) runs in that window.
"""

from __future__ import annotations

from pathlib import Path

from support.discord_double import Community, DiscordDouble
from support.discord_forum import discord_forum, forum_post
from support.discord_workload import (
    every_interaction,
    finished,
    first_answers,
    open_forms,
    refused_interaction_calls,
)
from support.forum import sqlite_url

SLOW_REST = 3.5
"""Longer than Discord's 3 seconds: a bot that waits for REST before answering is too late."""


async def test_every_command_and_menu_is_acknowledged_in_time_while_rest_is_rate_limited(
    discord_py_on_double: DiscordDouble, community: Community, tmp_path: Path
) -> None:
    double = discord_py_on_double
    async with discord_forum(double, sqlite_url(tmp_path)) as forum:
        sync = await double.wait_for_rest("PUT", "/applications/{application_id}/commands")
        post = await forum_post(forum, community.forum, community.alice, "Statins at 75", "Stop them")
        # The forms two menus open are shown before REST slows down: their submits run in the window.
        forms = await open_forms(double, community, post)
        assert await first_answers(double, forms) == [9, 9]

        double.rate_limit_everything(SLOW_REST)
        asked = await every_interaction(double, community, sync.json, post, forms)

        assert len(asked) >= 40  # every slash command leaf, three menus and two modal submits
        assert set(await first_answers(double, asked)) <= {4, 5}
        await finished(forum, asked)
        assert refused_interaction_calls(double) == []
