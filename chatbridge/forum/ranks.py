"""Trophies and member titles: which awards a member has earned and what their card calls them.

The rules live in a TOML file (``chatbridge/defaults/trophies.toml`` unless an admin points to their
own), so a community can rename "Bronze Member" or add a trophy without touching code. Everything
here except `load_trophy_config` is pure: the forum core passes in counts and the set of trophies
already awarded, and gets back what to award and what to display.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from importlib.resources import files
from pathlib import Path

__all__ = [
    "Criterion",
    "MemberStats",
    "Rank",
    "Trophy",
    "TrophyConfig",
    "TrophyConfigError",
    "earned",
    "load_trophy_config",
    "newly_earned",
    "next_rank",
    "parse_trophy_config",
    "rank_title",
    "trophy_points",
]

_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_TITLE = 100
_MAX_DESCRIPTION = 300
_TROPHY_FIELDS = ("key", "title", "description", "criterion", "threshold", "points")
_RANK_FIELDS = ("title", "min_points")
_TOP_LEVEL = ("trophies", "ranks")


class Criterion(StrEnum):
    """The member statistic a trophy counts; the values are the TOML spellings and `MemberStats` fields."""

    MESSAGES = "messages"
    LIKES_RECEIVED = "likes_received"
    THREADS_STARTED = "threads_started"
    REPLIES_TO_OTHERS = "replies_to_others"
    DAYS_SINCE_JOINING = "days_since_joining"


@dataclass(frozen=True, slots=True)
class Trophy:
    """One award. ``key`` is permanent (awards are stored by it); the rest may be reworded freely."""

    key: str
    title: str
    description: str
    criterion: Criterion
    threshold: int
    points: int


@dataclass(frozen=True, slots=True)
class Rank:
    """One rung of the title ladder: members with at least ``min_points`` trophy points get ``title``."""

    title: str
    min_points: int


@dataclass(frozen=True, slots=True)
class TrophyConfig:
    """Trophies in file order (which is also the order they are listed and awarded in) and the ladder.

    Invariants (checked here too, so hand-built configs in tests cannot break `rank_title`): trophy
    keys are unique, there is at least one rank, the first starts at 0 and ``min_points`` increase.
    """

    trophies: tuple[Trophy, ...]
    ranks: tuple[Rank, ...]

    def __post_init__(self) -> None:
        keys = [trophy.key for trophy in self.trophies]
        if len(set(keys)) != len(keys):
            raise ValueError("trophy keys must be unique")
        if not self.ranks or self.ranks[0].min_points != 0:
            raise ValueError("the first rank must have min_points 0")
        if any(a.min_points >= b.min_points for a, b in zip(self.ranks, self.ranks[1:], strict=False)):
            raise ValueError("rank min_points must increase")

    def trophy(self, key: str) -> Trophy | None:
        """The trophy with this key, or None if the config no longer has it."""
        for trophy in self.trophies:
            if trophy.key == key:
                return trophy
        return None


@dataclass(frozen=True, slots=True)
class MemberStats:
    """The five numbers trophies are judged on, for one member at one moment."""

    messages: int = 0
    likes_received: int = 0
    threads_started: int = 0
    replies_to_others: int = 0
    days_since_joining: int = 0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"MemberStats.{field.name} must be a whole number >= 0, got {value!r}")

    def value(self, criterion: Criterion) -> int:
        """The statistic a criterion refers to."""
        result: int = getattr(self, criterion.value)
        return result


class TrophyConfigError(ValueError):
    """The trophy file is wrong; the message is one line naming the file, the place and the fix.

    e.g. "trophies.toml: trophies[3].criterion: expected one of messages, likes_received,
    threads_started, replies_to_others, days_since_joining; got 'msgs'".
    """


# --- Parsing ----------------------------------------------------------------------------------------


class _Invalid(Exception):
    """Internal: a problem at a path inside the document; wrapped into TrophyConfigError with the source."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def _table(value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _Invalid(path, f"expected a table with {', '.join(allowed)}; got {value!r}")
    for name in value:
        if name not in allowed:
            raise _Invalid(path, f"unknown field {name!r}; expected {', '.join(allowed)}")
    return value


def _text(table: Mapping[str, object], path: str, name: str, limit: int) -> str:
    expected = f"expected text of 1 to {limit} characters"
    if name not in table:
        raise _Invalid(f"{path}.{name}", f"missing; {expected}")
    value = table[name]
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise _Invalid(f"{path}.{name}", f"{expected}; got {value!r}")
    return value.strip()


def _whole(table: Mapping[str, object], path: str, name: str, minimum: int) -> int:
    expected = f"expected a whole number, at least {minimum}"
    if name not in table:
        raise _Invalid(f"{path}.{name}", f"missing; {expected}")
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Invalid(f"{path}.{name}", f"{expected}; got {value!r}")
    return value


def _list(document: Mapping[str, object], name: str) -> list[object]:
    if name not in document:
        raise _Invalid(name, f"missing; expected one or more [[{name}]] tables")
    value = document[name]
    if not isinstance(value, list):
        raise _Invalid(name, f"expected a list of [[{name}]] tables; got {value!r}")
    return value


def _trophy(value: object, path: str) -> Trophy:
    table = _table(value, path, _TROPHY_FIELDS)
    key = _text(table, path, "key", 64)
    if _KEY.fullmatch(key) is None:
        raise _Invalid(
            f"{path}.key",
            f"expected lowercase letters, digits, '-' or '_' (like 'first-message'); got {key!r}",
        )
    if "criterion" not in table:
        raise _Invalid(f"{path}.criterion", f"missing; expected one of {', '.join(Criterion)}")
    raw = table["criterion"]
    try:
        criterion = Criterion(raw) if isinstance(raw, str) else None
    except ValueError:
        criterion = None
    if criterion is None:
        raise _Invalid(f"{path}.criterion", f"expected one of {', '.join(Criterion)}; got {raw!r}")
    return Trophy(
        key=key,
        title=_text(table, path, "title", _MAX_TITLE),
        description=_text(table, path, "description", _MAX_DESCRIPTION),
        criterion=criterion,
        threshold=_whole(table, path, "threshold", 1),
        points=_whole(table, path, "points", 0),
    )


def _config(document: Mapping[str, object]) -> TrophyConfig:
    for name in document:
        if name not in _TOP_LEVEL:
            raise _Invalid(name, f"unknown top-level key; expected {' and '.join(_TOP_LEVEL)}")
    trophies: list[Trophy] = []
    first_use: dict[str, int] = {}
    for i, value in enumerate(_list(document, "trophies")):
        trophy = _trophy(value, f"trophies[{i}]")
        if trophy.key in first_use:
            raise _Invalid(
                f"trophies[{i}].key", f"{trophy.key!r} is already used by trophies[{first_use[trophy.key]}]"
            )
        first_use[trophy.key] = i
        trophies.append(trophy)
    ranks: list[Rank] = []
    rank_values = _list(document, "ranks")
    if not rank_values:
        raise _Invalid("ranks", "expected at least one [[ranks]] table, starting at min_points = 0")
    for i, value in enumerate(rank_values):
        path = f"ranks[{i}]"
        table = _table(value, path, _RANK_FIELDS)
        rank = Rank(
            title=_text(table, path, "title", _MAX_TITLE), min_points=_whole(table, path, "min_points", 0)
        )
        if i == 0 and rank.min_points != 0:
            raise _Invalid(f"{path}.min_points", f"the first rank must start at 0; got {rank.min_points}")
        if ranks and rank.min_points <= ranks[-1].min_points:
            previous = f"ranks[{i - 1}].min_points ({ranks[-1].min_points})"
            raise _Invalid(f"{path}.min_points", f"must be greater than {previous}; got {rank.min_points}")
        for j, earlier in enumerate(ranks):
            if earlier.title == rank.title:
                raise _Invalid(f"{path}.title", f"{rank.title!r} is already used by ranks[{j}]")
        ranks.append(rank)
    return TrophyConfig(trophies=tuple(trophies), ranks=tuple(ranks))


def parse_trophy_config(text: str, *, source: str = "trophies.toml") -> TrophyConfig:
    """Parse and validate trophy TOML; ``source`` names the file in error messages.

    Raises `TrophyConfigError` with one line such as
    "my.toml: trophies[3].criterion: expected one of messages, ...; got 'msgs'" (indexes count from 0).
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TrophyConfigError(f"{source}: not valid TOML: {error}") from None
    except RecursionError:
        raise TrophyConfigError(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
    try:
        return _config(document)
    except _Invalid as error:
        raise TrophyConfigError(f"{source}: {error}") from None


def load_trophy_config(path: Path | None = None) -> TrophyConfig:
    """Read the admin's trophy file, or the packaged defaults when ``path`` is None.

    Call once at startup and keep the result; it is immutable and safe to share. Unreadable files
    raise `TrophyConfigError` too, so startup can print one line and stop.
    """
    if path is None:
        resource = files("chatbridge").joinpath("defaults/trophies.toml")
        return parse_trophy_config(
            resource.read_text(encoding="utf-8"), source="chatbridge/defaults/trophies.toml"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise TrophyConfigError(f"{path}: cannot read the trophy file: {reason}") from None
    return parse_trophy_config(text, source=str(path))


# --- Awarding and ranks -------------------------------------------------------------------------------


def earned(config: TrophyConfig, stats: MemberStats) -> list[Trophy]:
    """Every trophy these statistics qualify for, in config order (for backfills and "all trophies")."""
    return [trophy for trophy in config.trophies if stats.value(trophy.criterion) >= trophy.threshold]


def newly_earned(
    config: TrophyConfig, before: MemberStats, after: MemberStats, already: frozenset[str]
) -> list[Trophy]:
    """Trophies to award because of one event (a post, a like, a day passing), in config order.

    A trophy is awarded when ``after`` reaches its threshold and its key is not in ``already`` (the
    keys this member has been awarded). ``already`` is the source of truth, not ``before``: a trophy
    added to the config later, or missed while the bot was down, is then awarded on the member's next
    event instead of never, and a count that drops (a deleted post) and rises again does not award
    twice. ``before`` is taken so call sites describe the event; it does not change the result.

    Exactly once also needs the store's help: two concurrent events that both read the same
    ``already`` both get the trophy back here, so awards need a unique (member, trophy key) constraint.
    """
    del before  # see docstring: deliberately not part of the rule
    return [
        trophy
        for trophy in config.trophies
        if trophy.key not in already and after.value(trophy.criterion) >= trophy.threshold
    ]


def trophy_points(config: TrophyConfig, awarded: Iterable[str]) -> int:
    """Sum of the points of the awarded trophy keys; keys no longer in the config count 0."""
    points = {trophy.key: trophy.points for trophy in config.trophies}
    return sum(points.get(key, 0) for key in set(awarded))


def rank_title(config: TrophyConfig, points: int) -> str:
    """The title on a member card for this many trophy points ("Bronze Member")."""
    title = config.ranks[0].title
    for rank in config.ranks:
        if rank.min_points > points:
            break
        title = rank.title
    return title


def next_rank(config: TrophyConfig, points: int) -> tuple[str, int] | None:
    """The next title up and how many more points it needs, or None at the top of the ladder.

    "Next" is relative to `rank_title`, which gives the first title even below 0 points.
    """
    for rank in config.ranks[1:]:
        if rank.min_points > points:
            return rank.title, rank.min_points - points
    return None
