"""The `chatbridge` command: run the bot, manage the store, try commands in a console.

Every failure a person can cause (a bad config, a missing file, an unreachable database) ends with
one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chatbridge.config import ConfigError, Settings, load_settings
from chatbridge.logs import configure_logging, mask_url_passwords, redact

log = logging.getLogger("chatbridge")

EXIT_USAGE = 2
CONSOLE_HELP = """\
A local chat on the configured store, with the sub-forums General Discussion, Clinical Questions
and Careers & Training. Interactive lines are spoken by the current member; script lines name the
speaker.

Script lines:
  alice: TEXT            alice says TEXT in the current sub-forum (or thread)
  alice (re ^): TEXT     ... as a reply to the last message; `(re m12)` names a message
  :mod alice             make alice a moderator (`:admin alice`, `:member alice` likewise)
  :in NAME               switch to sub-forum NAME; `:thread TITLE` enters a thread, `:out` leaves
  :private NAME          make sub-forum NAME private, readable only by those who have spoken there
  :react alice m12 👍    alice reacts to message m12 (`:unreact` takes it back)
  :edit m12 TEXT         the author edits message m12; `:delete m12` deletes it
  :wait 2h               let time pass (10m, 2h, 3d, 1w)
  # comment              ignored
Interactive only: `:as alice` speaks as alice from now on. A new thread is entered automatically.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbridge",
        description="A forum layer for medical chat communities on Discord and Matrix.",
    )
    parser.add_argument(
        "--config", type=Path, help="TOML config file (default: $CHATBRIDGE_CONFIG or ./chatbridge.toml)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = commands.add_parser("db", help="manage the store")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="migrate the store to the newest schema")
    db_commands.add_parser("current", help="print the store's schema revision")

    console = commands.add_parser(
        "console",
        help="try commands locally as any member",
        description=CONSOLE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    console.add_argument(
        "--script", type=Path, help="read lines like `alice: !profile` from FILE ('-' for stdin)"
    )

    commands.add_parser("config", help="validate the configuration and print it (secrets hidden)")

    digest = commands.add_parser(
        "digest", help="print a community's weekly digest from the store (no platform needed)"
    )
    digest.add_argument(
        "--community",
        required=True,
        help="the community's name, or its guild or space: discord:<guild id>, matrix:<space id>",
    )
    digest.add_argument("--week", help="an ISO week such as 2025-W29 (default: last week)")
    digest.add_argument("--format", choices=("markdown", "html"), default="markdown", help="output")
    digest.add_argument("--template", help="an admin's template file in digest.templates_dir, to try it")

    outbox = commands.add_parser(
        "outbox", help="see the actions the bot set aside (dead letters), and retry or drop them"
    )
    outbox_commands = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    outbox_commands.add_parser("list", help="one line per set-aside action: id, kind, platform, why")
    for action, what in (("retry", "try a set-aside action again"), ("drop", "give up on it for good")):
        outbox_commands.add_parser(action, help=what).add_argument("item", metavar="ID", help="its id")

    scan = commands.add_parser(
        "scan",
        help="check messages (one per line on stdin) for patient identifiers, as the privacy guard would",
        description=(
            "Reads messages from standard input, one per line, and prints for each one line: 1 or 0 "
            "(would the bot flag it), a tab, and the identifier kinds found, comma-separated."
        ),
    )
    scan.add_argument(
        "--community", help="use this community's [privacy_guard] settings (default: the defaults)"
    )

    run = commands.add_parser(
        "run",
        help="run the bot on the configured platforms (a local Matrix sandbox when none is configured)",
    )
    run.add_argument(
        "--port", type=int, help="the sandbox homeserver's port (default 8008; 0 picks a free port)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        # These lines are ours and never quote a secret (they name the keys that hold one).
        for line in error.lines:
            print(f"chatbridge: config: {mask_url_passwords(line)}", file=sys.stderr)
        return EXIT_USAGE
    secrets = [
        s.get_secret_value()
        for s in (settings.discord_token, settings.matrix_password, settings.matrix_access_token)
        if s
    ]
    configure_logging(settings.logging.level, settings.logging.format, secrets)
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`chatbridge config | head`): nothing more can be said on stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # every failure is one line, never a traceback
        message = _explain(error, settings)
        if message is None:
            log.debug("unexpected failure", exc_info=True)
            message = (
                f"unexpected error ({type(error).__name__}: {error}); set logging.level = DEBUG to see where"
            )
        _fail(message, secrets)
        return EXIT_USAGE


class _UserFacing(Exception):
    """A failure with a message meant for the person at the terminal."""


def _fail(message: str, secrets: Sequence[str] = ()) -> None:
    """One line on stderr, with secrets masked: a server's answer quoted in it may echo them."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"chatbridge: {redact(line, secrets)}", file=sys.stderr)


def _explain(error: Exception, settings: Settings) -> str | None:
    """The one line for a failure a person can act on; None for a bug."""
    from sqlalchemy.exc import DBAPIError

    from chatbridge.forum.ranks import TrophyConfigError
    from chatbridge.store.engine import redact_url
    from chatbridge.store.migrate import SchemaNotCurrentError

    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        inner = error.exceptions[0]  # one task of a TaskGroup failed: that is the failure
        return _explain(inner, settings) if isinstance(inner, Exception) else None
    where = redact_url(settings.database_url)
    if isinstance(error, _UserFacing | TrophyConfigError | SchemaNotCurrentError):
        return str(error)
    if isinstance(error, DBAPIError):
        return f"cannot open the store at {where}: {error.orig}"
    if isinstance(error, OSError):
        place = f"cannot use {error.filename}: " if error.filename else ""
        return f"{place}{error.strerror or error}"
    return None


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "db":
        return _db(args.db_command, settings)
    if args.command == "console":
        return _console(args.script, settings)
    if args.command == "run":
        return _run(settings, args.port)
    if args.command == "config":
        # Secrets are SecretStr (printed as stars); a password can also sit in a URL's userinfo.
        print(mask_url_passwords(settings.model_dump_json(indent=2)))
        return 0
    if args.command == "digest":
        return _digest(args, settings)
    if args.command == "outbox":
        return _outbox(args.outbox_command, getattr(args, "item", None), settings)
    if args.command == "scan":
        return _scan(args.community, settings)
    raise AssertionError(args.command)


def _db(action: str, settings: Settings) -> int:
    from sqlalchemy.exc import OperationalError

    from chatbridge.store.engine import make_engine, redact_url
    from chatbridge.store.migrate import current_revision, shipped_revisions, upgrade

    try:
        engine = make_engine(settings.database_url)
    except OSError as error:
        raise _UserFacing(
            f"cannot open the store at {redact_url(settings.database_url)}: {error.strerror}"
        ) from None
    try:
        if action == "upgrade":
            upgrade(engine)
            print(f"store at {redact_url(settings.database_url)} is at revision {current_revision(engine)}")
        else:
            revision = current_revision(engine)
            if revision is not None and revision not in shipped_revisions():
                revision += " (made by a newer chatbridge: this one does not know it)"
            print(revision or "empty (run `chatbridge db upgrade`)")
    except OperationalError as error:
        raise _UserFacing(
            f"cannot open the store at {redact_url(settings.database_url)}: {error.orig}"
        ) from None
    finally:
        engine.dispose()
    return 0


def _run(settings: Settings, port: int | None) -> int:
    from chatbridge.runner import RunError, run

    try:
        return asyncio.run(run(settings, sandbox_port=port))
    except RunError as error:
        raise _UserFacing(str(error)) from None


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from chatbridge.services.digest.offline import OfflineError, last_week, offline_digest

    week = args.week or last_week(datetime.now(UTC), settings.forum.timezone)
    try:
        digest = offline_digest(settings, args.community, week, args.format, args.template)
    except OfflineError as error:
        raise _UserFacing(str(error)) from None
    print(digest.text)
    if digest.problem is not None:
        print(f"chatbridge: template {digest.problem} (printed with the bundled one)", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _outbox(action: str, item: str | None, settings: Settings) -> int:
    """Dead letters for an admin: never a payload (it may hold member text), only ids and reasons."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlmodel import Session

    from chatbridge.forum.text import whole_number
    from chatbridge.registry import LARGEST_NUMBER
    from chatbridge.services.outbox import (
        OutboxAdminError,
        dead_letters,
        drop_dead_letter,
        retry_dead_letter,
    )
    from chatbridge.store.engine import make_engine, redact_url

    item_id: int | None = None
    if item is not None:
        item_id = whole_number(item.lstrip("#"))
        if item_id is None or not 0 < item_id <= LARGEST_NUMBER:
            raise _UserFacing(f"outbox: expected an item id such as 12, not {item!r}")
    where = redact_url(settings.database_url)
    try:
        engine = make_engine(settings.database_url)
    except OSError as error:
        raise _UserFacing(f"cannot open the store at {where}: {error.strerror}") from None
    now = datetime.now(UTC)
    try:
        with Session(engine) as session:
            if action == "list":
                found = dead_letters(session)
                for dead in found:
                    assert dead.dead_at is not None
                    print(
                        f"#{dead.id} {dead.kind} on {dead.platform}"
                        f" community {dead.community_id if dead.community_id is not None else '-'}"
                        f" set aside {dead.dead_at:%Y-%m-%d %H:%M} UTC after {dead.attempts} attempt(s):"
                        f" {dead.dead_reason or 'no reason recorded'}"
                    )
                if not found:
                    print("no set-aside outbox items")
                return 0
            assert item_id is not None
            if action == "retry":
                retry_dead_letter(session, item_id)
                told = f"outbox item {item_id} will be tried again by the running bot"
            else:
                drop_dead_letter(session, item_id, now)
                told = f"outbox item {item_id} dropped"
            session.commit()
            print(told)
            return 0
    except OutboxAdminError as error:
        raise _UserFacing(f"outbox: {error}") from None
    except (OperationalError, ProgrammingError) as error:
        raise _UserFacing(
            f"cannot read the outbox at {where} (run `chatbridge db upgrade` first?): "
            f"{' '.join(str(error.orig).split())}"
        ) from None
    finally:
        engine.dispose()


def _scan(community: str | None, settings: Settings) -> int:
    """The bot's own detector and policy over stdin; identifiers are never echoed, only kinds."""
    from chatbridge.services.privacy_guard import policy_for

    config = settings.privacy_guard
    if community is not None and community not in config.communities:
        print(
            f"chatbridge: no [privacy_guard.communities] entry for {community!r}; using the defaults",
            file=sys.stderr,
        )
    policy = policy_for(config, community)
    if not policy.active:
        print("chatbridge: the privacy guard is off for this community: nothing is flagged", file=sys.stderr)
    stdin = sys.stdin
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(errors="replace")  # a stray byte is one odd character, never a crash
    out = sys.stdout
    for line in stdin:
        scan = policy.screen(line.rstrip("\r\n"))
        out.write(f"{int(scan.flagged)}\t{','.join(scan.kinds)}\n")
    out.flush()
    return 0


def _console(script: Path | None, settings: Settings) -> int:
    from sqlalchemy.exc import OperationalError

    from chatbridge.console import run_console

    try:
        # Bytes that are not UTF-8 arrive as lone surrogates, which dispatch turns into U+FFFD in a
        # post and a plain refusal in a command, as for a platform that let one through.
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="surrogateescape")
        if script is None:
            return asyncio.run(run_console(settings, None))
        if str(script) == "-":
            return asyncio.run(run_console(settings, sys.stdin))
        try:
            handle = script.open(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise _UserFacing(f"cannot read script {script}: {error.strerror}") from None
        with handle:
            return asyncio.run(run_console(settings, handle))
    except OperationalError as error:
        raise _UserFacing(f"cannot open the store: {error.orig}") from None
    except OSError as error:
        raise _UserFacing(f"cannot open the store: {error.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
