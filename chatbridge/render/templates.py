"""What the bot says: Jinja2 templates rendered to Markdown, escaping by default.

Every `{{ value }}` is escaped for Markdown and stripped of mentions unless it is `Trusted`, so a
template author who forgets a filter still cannot let a member's title or bio ping @everyone or
inject a link. Filters that build markup (links, dates) return `Trusted` values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from chatbridge.forum.humanize import ago, forum_date, plural
from chatbridge.render.escape import escape_user_text

_BLANK_RUNS = re.compile(r"\n{3,}")


class Trusted(str):
    """Text the bot composed itself (already escaped); templates output it unchanged."""

    __slots__ = ()


ESCAPE_MEMO_SIZE = 4096
"""Escaped texts a renderer remembers: the same names and trophy titles come back in notice after
notice (a burst of trophies is thousands of renders), and escaping runs several regexes."""


def finalizer(escape: Callable[[str], str]) -> Callable[[object], object]:
    """What every `{{ value }}` goes through: escaped, unless composed by the bot itself."""

    def finalize(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, Trusted | int | float):
            return value
        return escape(str(value))

    return finalize


def _link(url: str, label: object) -> Trusted:
    """A Markdown link whose label is escaped and whose URL cannot close the link early."""
    safe_url = str(url).replace(">", "%3E").replace(" ", "%20")
    return Trusted(f"[{escape_user_text(str(label))}](<{safe_url}>)")


def _number(value: int) -> Trusted:
    return Trusted(f"{value:,}")


class Renderer:
    """Loads the bundled templates (or a directory of overrides first) and renders Markdown."""

    def __init__(self, override_dir: Path | None = None, now: Callable[[], datetime] | None = None) -> None:
        bundled = Path(str(files("chatbridge.templates")))
        search = [str(override_dir)] if override_dir else []
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*search, str(bundled)]),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            finalize=finalizer(functools.lru_cache(maxsize=ESCAPE_MEMO_SIZE)(escape_user_text)),
            # Templates are read once per process: checking every file's mtime on every render
            # costs more than rendering a one-line notice (restart to pick up an edited override).
            auto_reload=False,
        )
        self._env.filters.update(
            link=_link,
            number=_number,
            date=lambda dt: Trusted(forum_date(dt)),
            plural=lambda n, one, many: Trusted(plural(n, one, many)),
            trusted=Trusted,
        )
        self._now = now

    def add_globals(self, values: Mapping[str, Any]) -> None:
        self._env.globals.update(values)

    def render(self, name: str, /, **context: Any) -> str:
        """Render a template; runs of blank lines collapse so optional fields leave no gaps."""
        if self._now is not None:
            now = self._now()
            context.setdefault("now", now)
            context.setdefault("ago", lambda then: Trusted(ago(then, now)))
        text = self._env.get_template(name).render(**context)
        lines = [line.rstrip() for line in text.splitlines()]
        return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
