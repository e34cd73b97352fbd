"""Two members' commands at once, while the first waits on the platform inside its transaction."""

from __future__ import annotations

import asyncio
import types

from chatbridge.context import Context
from chatbridge.registry import command
from support.forum import Forum, texts


async def test_a_command_waiting_on_the_platform_does_not_freeze_the_next_one(forum: Forum) -> None:
    chat = forum.chat
    platform_answered = asyncio.Event()
    waiting = asyncio.Event()

    @command("slowpoke", help="Sets a card field, then waits for the platform before answering.")
    async def slowpoke(ctx: Context) -> str:
        ctx.member.display_name = "alice (on call)"  # a write: the transaction holds the store
        ctx.session.flush()
        waiting.set()
        await platform_answered.wait()  # like `thread new` awaiting Discord's new forum post
        return "done"

    module = types.ModuleType("slow_commands")
    module.slowpoke = slowpoke  # type: ignore[attr-defined]
    forum.core.registry.add_module(module)

    first = asyncio.create_task(chat.say("!slowpoke", as_="alice"))
    await waiting.wait()
    second = asyncio.create_task(chat.say("!profile", as_="bob"))
    await asyncio.sleep(0.05)  # bob's command is queued behind alice's, the loop still runs
    platform_answered.set()
    assert "done" in texts(await first)
    assert "**bob**" in texts(await second)
