"""`chatbridge console`: try every command locally, as any member, before wiring a real server.

The console is the in-memory platform with a line-oriented front end. Script lines look like a chat
log (`alice: !profile`), so a script doubles as a readable demo and as a regression check.

The line syntax is in `chatbridge console --help` (chatbridge.cli.CONSOLE_HELP).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from chatbridge.adapters.memory import MemoryPlatform, Said
from chatbridge.app import Application
from chatbridge.config import Settings
from chatbridge.core import Core
from chatbridge.forum.durations import parse_duration
from chatbridge.forum.text import InputError
from chatbridge.model import Privilege
from chatbridge.wellformed import repaired_text

_SAY = re.compile(r"^(?P<who>[\w.\-]+)(?:\s*\((?:re|reply to)\s+(?P<re>\^|m\d+)\))?:\s?(?P<text>.*)$")
_ROLES = {":member": Privilege.MEMBER, ":mod": Privilege.MODERATOR, ":admin": Privilege.ADMIN}


class ConsoleError(Exception):
    """A console line that cannot be run; the message says how to write it."""


@dataclass
class Console:
    """Runs console lines against a core through the in-memory platform and prints a transcript."""

    chat: MemoryPlatform
    out: TextIO
    speaker: str = "alice"
    room: str | None = None
    thread: str | None = None
    roles: dict[str, Privilege] = field(default_factory=dict)

    async def run_line(self, line: str, *, interactive: bool = False) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        try:
            if line.startswith(":"):
                await self._directive(line)
                return
            match = _SAY.match(line)
            if (match and not interactive) or (match and match["who"] in self.chat.members):
                assert match is not None
                await self._say(match["who"], match["text"], match["re"])
            elif interactive:
                await self._say(self.speaker, line, None)
            else:
                raise ConsoleError(f"don't know how to read {line!r}; write `name: message` or a :directive")
        except ConsoleError as error:
            self._print(f"console: {error}")

    async def run_script(self, lines: Iterable[str]) -> None:
        for line in lines:
            await self.run_line(line)

    async def _say(self, who: str, text: str, reply_to: str | None) -> None:
        actor = self.chat.member(who, self.roles.get(who, Privilege.MEMBER))
        room = self.chat.room(self.room)
        if not self.chat.can_read(room.room_id, actor.user_id):
            raise ConsoleError(f"{who} cannot read {room.name}: it is private")
        if reply_to == "^":
            reply_to = self._last_message()
        elif reply_to is not None:
            reply_to = self._message(reply_to).message_id
        if self.chat.held:  # the store was unavailable: what waits goes first, in order
            self._show(await self.chat.redeliver())
        before = self.chat.newest_thread()
        pending = self.chat.say(text, as_=actor, in_=self.room, thread=self.thread, reply_to=reply_to)
        replies = await pending
        said = self.chat.last_message_id(actor.display_name)
        regarding = f" (re {self._short_id(reply_to)})" if reply_to else ""
        self._print(f"[{self._short_id(said)}] {who}{regarding}: {text}")
        self._show(replies)
        if self.chat.held:
            self._print(
                f"console: the store is unavailable; {len(self.chat.held)} event(s) wait and are "
                "applied, in order, once it is back"
            )
        if self.chat.newest_thread() != before:
            self.thread = self.chat.newest_thread()
            self._print("console: now in the new thread (`:out` leaves it)")

    def _last_message(self) -> str:
        for said in reversed(self.chat.transcript):
            if said.author != "bot":
                return said.message_id
        raise ConsoleError("there is no message to reply to yet")

    async def _directive(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == ":as" and rest:
            self.speaker = rest
            self.chat.member(rest, self.roles.get(rest, Privilege.MEMBER))
        elif word in _ROLES and rest:
            self.roles[rest] = _ROLES[word]
            self.chat.member(rest, _ROLES[word])
            self._print(f"console: {rest} is now a {_ROLES[word].name.lower()}")
        elif word == ":in" and rest:
            try:
                self.room = self.chat.room(rest).name
            except KeyError:
                raise ConsoleError(
                    f"no sub-forum {rest!r}; there are: {', '.join(self.chat.subforums)}"
                ) from None
            self.thread = None
            self._print(f"console: now in {self.room}")
        elif word == ":private" and rest:
            await self._make_private(rest)
        elif word == ":thread" and rest:
            try:
                self.thread = self.chat.thread(rest)
            except KeyError:
                raise ConsoleError(f"no thread titled {rest!r}") from None
            self._print(f"console: now in thread {rest!r}")
        elif word == ":out":
            self.thread = None
        elif word in (":react", ":unreact"):
            parts = rest.split()
            if len(parts) != 3:
                raise ConsoleError(f"write `{word} NAME MESSAGE-ID EMOJI`")
            who, message_id, emoji = parts
            message_id = self._message(message_id).message_id
            actor = self.chat.member(who, self.roles.get(who, Privilege.MEMBER))
            try:
                if word == ":react":
                    replies = await self.chat.add_reaction(message_id, emoji, as_=actor)
                else:
                    replies = await self.chat.remove_reaction(message_id, emoji, as_=actor)
            except KeyError:
                raise ConsoleError(f"there is no message {message_id}") from None
            done = "reacted" if word == ":react" else "removed"
            self._print(f"{who} {done} {emoji} on {self._short_id(message_id)}")
            self._show(replies)
        elif word == ":edit":
            message_id, _, text = rest.partition(" ")
            said = self._message(message_id)
            self._print(f"{said.author} edited {message_id}: {text}")
            self._show(await self.chat.edit(said.message_id, text, as_=said.author))
        elif word == ":delete":
            said = self._message(rest)
            self._print(f"{rest} was deleted")
            self._show(await self.chat.delete(said.message_id))
        elif word == ":wait":
            try:
                delta = parse_duration(rest)
            except InputError as error:
                raise ConsoleError(str(error)) from None
            self.chat.advance(delta)
            self._print(f"console: {rest} later")
        else:
            raise ConsoleError(f"unknown directive {line!r}; see `chatbridge console --help`")

    async def _make_private(self, name: str) -> None:
        """Make a sub-forum private, as a staff channel or an invite-only room is: its readers are
        the members who have spoken there so far (as on a real platform, who was let in)."""
        try:
            room = self.chat.room(name)
        except KeyError:
            raise ConsoleError(
                f"no sub-forum {name!r}; there are: {', '.join(self.chat.subforums)}"
            ) from None
        readers = sorted(self.chat.speakers(room.name))
        await self.chat.make_private(room.name, readers)
        who = ", ".join(readers) if readers else "nobody yet (readers are those who have spoken there)"
        self._print(f"console: {room.name} is now private; it can be read by {who}")

    def _full_id(self, message_id: str) -> str:
        return message_id if message_id.startswith(self.chat.id_prefix) else self.chat.id_prefix + message_id

    def _short_id(self, message_id: str) -> str:
        return message_id.removeprefix(self.chat.id_prefix)

    def _message(self, message_id: str) -> Said:
        message_id = self._full_id(message_id)
        for said in self.chat.transcript:
            if said.message_id == message_id:
                return said
        raise ConsoleError(f"there is no message {message_id}")

    def _show(self, replies: list[Said]) -> None:
        for said in replies:
            who = f"bot (only {said.ephemeral_for} sees this)" if said.ephemeral_for else "bot"
            lines = said.text.splitlines() or [""]
            self._print(f"[{self._short_id(said.message_id)}] {who}: {lines[0]}")
            for extra in lines[1:]:
                self._print(f"    {extra}")

    def _print(self, text: str) -> None:
        self.out.write(repaired_text(text) + "\n")  # a line read from bytes that were not UTF-8
        self.out.flush()


async def run_console(settings: Settings, script: TextIO | None, out: TextIO | None = None) -> int:
    """Run a script, or an interactive session on standard input; returns an exit status."""
    out = out or sys.stdout
    # A persistent store outlives one console run: a per-run prefix keeps platform ids unique, and
    # the chat's clock is the real one.
    started = datetime.now(UTC)
    chat = MemoryPlatform(start_time=started, id_prefix=f"{int(started.timestamp()):x}-")
    core = Core.build(settings, clock=chat.now)
    app = Application(core, [chat])
    console = Console(chat, out=out)
    async with app.running():
        if script is not None:
            await console.run_script(script)
            return 0
        out.write("chatbridge console: type messages or commands (!help).\n")
        out.write(":as NAME, :mod NAME, :in SUB-FORUM, :private SUB-FORUM, :thread TITLE, :out;")
        out.write(" Ctrl-D quits.\n")
        while True:
            out.write(f"{console.speaker}> ")
            out.flush()
            line = await _read_line()
            if line is None:
                out.write("\n")
                return 0
            await console.run_line(line, interactive=True)


async def _read_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None
