"""A small, realistic medical community to start tests from.

Tests that need something different build their own guild with ``double.world.add_guild``; this
one exists so most tests read as "alice posts in #general" rather than twenty lines of setup.
"""

from __future__ import annotations

from dataclasses import dataclass

from .guild_state import GuildState
from .permissions import MODERATOR_DEFAULT
from .state import World


@dataclass(frozen=True)
class Community:
    """Ids of the seeded guild's channels, roles and people."""

    guild: GuildState
    general: int
    """Text channel (type 0)."""
    forum: int
    """Forum channel (type 15) with tags ``cardiology``, ``neurology`` and moderated ``answered``."""
    thread: int
    """An existing public thread in #general, owned by alice."""
    moderator_role: int
    alice: int
    """A member with no special role."""
    bob: int
    """A member with the moderator role (MODERATE_MEMBERS, MANAGE_MESSAGES, ...)."""
    carol: int
    """A user who is *not* yet a member (for join tests)."""

    @property
    def guild_id(self) -> int:
        return self.guild.id

    def tag(self, name: str) -> int:
        return self.guild.tag_id(self.forum, name)


def seed_community(world: World, *, name: str = "Cardiology Commons") -> Community:
    alice = world.add_user("alice", global_name="Alice Adams")
    bob = world.add_user("bob", global_name="Dr. Bob")
    carol = world.add_user("carol")
    guild = world.add_guild(name)
    moderator_role = guild.add_role("Moderator", permissions=MODERATOR_DEFAULT, hoist=True)
    guild.add_member(alice)
    guild.add_member(bob, roles=[moderator_role])
    general = guild.add_text_channel("general", topic="Introduce yourself")
    forum = guild.add_forum_channel(
        "questions", tags=["cardiology", "neurology"], moderated_tags=["answered"], topic="Ask the community"
    )
    thread = guild.add_thread(general, "ECG reading group", owner_id=alice)
    return Community(
        guild=guild,
        general=general,
        forum=forum,
        thread=thread,
        moderator_role=moderator_role,
        alice=alice,
        bob=bob,
        carol=carol,
    )
