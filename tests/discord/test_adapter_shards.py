"""Scale: processes on distinct shard ranges share one PostgreSQL store without counting twice.

Two applications (each with its own core, engine and Discord client) identify as shard 0 and
shard 1 of 2 against the same double and the same PostgreSQL database. The double routes each
guild's events to the shard that owns it ((guild_id >> 22) % 2), and during a reshard overlap
also to a second session: what both processes receive, and what is replayed, counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from chatbridge.model import ChatEvent, MessagePosted, ReactionAdded
from chatbridge.store.tables import Member, Thread
from support.discord_double import DiscordDouble, shard_for
from support.discord_forum import DiscordForum, discord_forum
from support.postgres import MigratedTemplates, PostgresCluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def shared_store(postgres_cluster: PostgresCluster, migrated_templates: MigratedTemplates) -> Iterator[str]:
    """One PostgreSQL database for every process of the test (already migrated)."""
    name = migrated_templates.postgres_copy(postgres_cluster)
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


def posted(message: dict[str, Any]) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, MessagePosted) and e.message_id == message["id"]


def liked(message_id: int) -> Callable[[ChatEvent], bool]:
    return lambda e: isinstance(e, ReactionAdded) and e.message_id == str(message_id)


async def everyone_applied(processes: tuple[DiscordForum, ...], wanted: Callable[[ChatEvent], bool]) -> None:
    for process in processes:
        await process.applied.wait(wanted)
    for process in processes:
        await process.settle()


async def test_two_shard_processes_share_one_postgresql_store_and_count_once(
    discord_py_on_double: DiscordDouble, shared_store: str
) -> None:
    double = discord_py_on_double
    world = double.world
    alice, bob = world.add_user("alice"), world.add_user("bob")
    forums: dict[int, int] = {}
    for shard in (0, 1, 0):
        guild = world.add_guild(f"Shard {shard} ward", guild_id=double.snowflakes.for_shard(shard, 2))
        guild.add_member(alice)
        guild.add_member(bob)
        forums[guild.id] = guild.add_forum_channel("questions")
    first_guild, second_guild, resharding = forums
    assert [shard_for(g, 2) for g in forums] == [0, 1, 0]
    # The third guild is moving to shard 1 in a reshard: for now both sessions get its events.
    double.overlap_shards(resharding, shard=(1, 2))

    async with (
        discord_forum(double, shared_store, shard_count=2, shard_ids=(0,)) as first,
        discord_forum(double, shared_store, shard_count=2, shard_ids=(1,)) as second,
    ):
        assert sorted(tuple(r.payload["shard"]) for r in double.identifies) == [(0, 2), (1, 2)]
        assert {g.id for g in first.platform.client.guilds} == {first_guild, resharding}
        assert {g.id for g in second.platform.client.guilds} == {second_guild, resharding}

        # Each owned guild: alice opens a post, bob answers, alice likes the answer.
        for guild_id, process in ((first_guild, first), (second_guild, second)):
            thread_id, _ = await double.create_forum_post(forums[guild_id], alice, "Night shift tips", "Go")
            answer = await double.post_message(thread_id, bob, "Sleep in the dark.")
            await process.applied.wait(posted(answer))
            await double.add_reaction(thread_id, int(answer["id"]), "👍", alice)
            await everyone_applied((process,), liked(int(answer["id"])))

        # The guild in the overlap: every event reaches both processes; one is even sent twice.
        thread_id, _ = await double.create_forum_post(forums[resharding], alice, "Handover", "Go")
        answer = await double.post_message(thread_id, bob, "Use SBAR.")
        await everyone_applied((first, second), posted(answer))
        await double.dispatch("MESSAGE_CREATE", world.message_create_event(answer), shard_id=1)  # replayed
        await double.add_reaction(thread_id, int(answer["id"]), "👍", alice)
        await everyone_applied((first, second), liked(int(answer["id"])))
        typed = await double.post_message(thread_id, bob, "!trophies")
        await everyone_applied((first, second), posted(typed))

        with first.store() as session:
            threads = session.exec(select(Thread).order_by(col(Thread.id))).all()
            bobs = session.exec(select(Member).where(Member.display_name == "bob")).all()
        assert [(t.title, t.reply_count, t.like_count) for t in threads] == [
            ("Night shift tips", 1, 1),
            ("Night shift tips", 1, 1),
            ("Handover", 1, 1),
        ]
        assert [(m.message_count, m.likes_received) for m in bobs] == [(1, 1)] * 3  # a command is no post
        answers = [
            call
            for call in double.calls("POST", f"/channels/{thread_id}/messages")
            if str((call.json.get("message_reference") or {}).get("message_id")) == typed["id"]
        ]
        assert len(answers) == 1  # the command both processes saw is answered once
        assert len(double.calls("PUT", "/applications/{application_id}/commands")) == 1  # shard 0 publishes
