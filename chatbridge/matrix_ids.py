"""The shapes of Matrix room ids and aliases, shared by the config and the Matrix adapter.

Room ids differ by room version: up to version 11 they are `!opaque:server`; from version 12
(Synapse's default for new rooms) they are `!` and the create event's hash, with no server part
(`!7zAGlo8eoek6yEl8gd6grxSTvmK8nCqjcasQKLevnaM`). Anything reading a room id accepts both.
"""

from __future__ import annotations

import re

_ROOM_ID = re.compile(r"![^\s:/#!]+(?::[^\s/#]+)?")
_ROOM_ALIAS = re.compile(r"#[^\s:/#]+:[^\s/#]+")


def is_room_id(value: str) -> bool:
    """A room id of any room version: `!opaque:server`, or `!hash` (version 12 and later)."""
    return _ROOM_ID.fullmatch(value) is not None


def is_room_alias(value: str) -> bool:
    """A room alias, `#name:server` (aliases always name their server)."""
    return _ROOM_ALIAS.fullmatch(value) is not None
