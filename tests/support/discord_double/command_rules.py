"""What Discord accepts in a command upload (Bulk Overwrite of global or guild commands).

Every rule is from developers/interactions/application-commands.mdx; a command breaking one is
answered 400 50035 Invalid Form Body with the offending field's path, and a scope holding too
many commands of one type with 400 30032 (developers/topics/opcodes-and-status-codes.mdx).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from .form_errors import FormError, check_count, check_length
from .rest_app import ApiError

CHAT_INPUT = 1
USER = 2
MESSAGE = 3
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3

# application-commands.mdx "Registering a Command": 100 global CHAT_INPUT, 15 USER, 15 MESSAGE
# commands, "the same amount of guild-specific commands per guild".
MAX_COMMANDS = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
MAX_OPTIONS = 25  # "Parameters for the command, max of 25" (and up to 25 nested options)
MAX_CHOICES = 25  # "Choices for the user to pick from, max 25"
MAX_COMBINED = 8000  # "a maximum of 8000 characters for combined name, description, and value"

# application-commands.mdx "Application Command Naming": CHAT_INPUT names and option names match
# ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ and use the lowercase variant of any letter.
_NAME_PUNCTUATION = frozenset("-_'")
_DEVANAGARI = ((0x0900, 0x097F), (0xA8E0, 0xA8FF))
_THAI = ((0x0E00, 0x0E7F),)


def _name_character(char: str) -> bool:
    if char in _NAME_PUNCTUATION or unicodedata.category(char)[0] in "LN":
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in (*_DEVANAGARI, *_THAI))


def check_chat_name(path: Sequence[str | int], name: Any) -> None:
    check_length(path, name, 1, 32)
    if not all(_name_character(c) for c in name):
        raise FormError(path, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    if name.lower() != name:
        raise FormError(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name must be lowercase")


def _check_choices(path: tuple[str | int, ...], choices: Any) -> int:
    size = 0
    for index, choice in enumerate(check_count((*path, "choices"), choices, MAX_CHOICES)):
        check_length((*path, "choices", index, "name"), choice.get("name"), 1, 100)
        value = choice.get("value")
        if isinstance(value, str):
            check_length((*path, "choices", index, "value"), value, 1, 100)
            size += len(value)
        size += len(choice["name"])
    return size


def _check_options(path: tuple[str | int, ...], options: Any) -> int:
    """Returns the characters the options add towards the 8,000 limit."""
    size = 0
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(check_count((*path, "options"), options, MAX_OPTIONS)):
        where = (*path, "options", index)
        check_chat_name((*where, "name"), option.get("name"))
        check_length((*where, "description"), option.get("description"), 1, 100)
        if option["name"] in names:
            raise FormError(
                (*where, "name"), "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME", "Option names must be unique"
            )
        names.add(option["name"])
        size += len(option["name"]) + len(option["description"])
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            size += _check_options(where, option.get("options"))
            continue
        # "Required options must be listed before optional options"
        if option.get("required"):
            if seen_optional:
                raise FormError(
                    (*where, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        size += _check_choices(where, option.get("choices"))
    return size


def check_command(index: int, command: Mapping[str, Any]) -> None:
    command_type = command.get("type", CHAT_INPUT)
    where: tuple[str | int, ...] = (index,)
    if command_type == CHAT_INPUT:
        check_chat_name((*where, "name"), command.get("name"))
        check_length((*where, "description"), command.get("description"), 1, 100)
        size = len(command["name"]) + len(command["description"])
        size += _check_options(where, command.get("options"))
        if size > MAX_COMBINED:
            raise FormError(
                where, "APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds maximum size ({MAX_COMBINED})"
            )
    else:
        # USER and MESSAGE commands "may be mixed case and can include spaces", still 1-32 long.
        check_length((*where, "name"), command.get("name"), 1, 32)
        if command.get("options"):
            raise FormError(
                (*where, "options"), "APPLICATION_COMMAND_OPTIONS_INVALID", "Only CHAT_INPUT has options"
            )


def check_upload(commands: Sequence[Mapping[str, Any]]) -> None:
    """Raises the error Discord would answer a Bulk Overwrite of ``commands`` with."""
    for index, command in enumerate(commands):
        check_command(index, command)
    for command_type, limit in MAX_COMMANDS.items():
        if sum(1 for c in commands if c.get("type", CHAT_INPUT) == command_type) > limit:
            raise ApiError(400, 30032, "Maximum number of application commands reached")
