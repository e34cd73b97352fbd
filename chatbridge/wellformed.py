"""Text that arrives from a platform, made encodable before anything stores or repeats it.

JSON lets a payload carry a lone surrogate (``"\\ud800"``): Python decodes it into a `str` that
cannot be encoded as UTF-8, so storing it fails inside the database driver and a whole ingest
batch falls back to one-by-one, with the post lost. Every event passes through here on its way
into dispatch: a lone surrogate becomes U+FFFD, so the post is stored (showing where the broken
character was) and counted, and a command that held one can be refused in words.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

__all__ = ["REPLACEMENT", "repaired", "repaired_text"]

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_T = TypeVar("_T")


def repaired_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD; the same object when there are none."""
    return text if _encodable(text) else _SURROGATE.sub(REPLACEMENT, text)


_Plan = (
    tuple[Callable[[Any], tuple[object, ...]], tuple[str, ...]] | Literal["str", "tuple", "mapping", "other"]
)


@functools.cache
def _plan(kind: type) -> _Plan:
    """How to look into a value of type `kind` for text, worked out once per type."""
    if kind is str:
        return "str"
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind))
        return operator.attrgetter(*names) if len(names) > 1 else (lambda v: (getattr(v, names[0]),)), names
    if issubclass(kind, tuple):
        return "tuple"
    if issubclass(kind, Mapping):
        return "mapping"
    return "other"  # numbers, datetimes, enums (a str subclass, but never member text)


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """Where an event type keeps its text: plain strings (read with one C-level getter, nested
    dataclasses included) and the few fields that need a closer look (optional parts, tuples,
    mappings), which are nearly always None or empty."""

    strings: Callable[[Any], Any]
    others: tuple[Callable[[Any], Any], ...]


_NO_TEXT = (bool, int, float, datetime, enum.Enum)


@functools.cache
def _layout(kind: type) -> _Layout:
    paths: list[str] = []
    others: list[str] = []

    def walk(of: type, prefix: str) -> None:
        try:
            hints = typing.get_type_hints(of)
        except NameError:  # an annotation imported for type checking only: look at every field
            hints = {}
        for f in dataclasses.fields(of):
            hint = hints.get(f.name, object)
            base = [a for a in typing.get_args(hint) if a is not type(None)] if _optional(hint) else [hint]
            if base == [str]:
                paths.append(prefix + f.name)
            elif len(base) == 1 and isinstance(base[0], type) and issubclass(base[0], _NO_TEXT):
                continue
            elif hint is not base[0] or not dataclasses.is_dataclass(base[0]):
                others.append(prefix + f.name)
            else:
                walk(typing.cast(type, base[0]), prefix + f.name + ".")

    walk(kind, "")
    strings = operator.attrgetter(*paths) if len(paths) > 1 else (lambda v: (operator.attrgetter(*paths)(v),))
    return _Layout(strings, tuple(operator.attrgetter(p) for p in others))


def _optional(hint: object) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")  # four times faster than searching for a surrogate
    except UnicodeEncodeError:
        return False
    return True


def _sound(value: object) -> bool:
    """True when no string in `value` holds a lone surrogate: the fast check run on every event."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return _repair(value) is value
    layout = _layout(type(value))
    if not _encodable("".join(filter(None, layout.strings(value)))):
        return False
    for other in layout.others:
        item = other(value)
        if item and _repair(item) is not item:
            return False
    return True


def repaired(value: _T) -> _T:
    """`value` (an event, or any part of one) with every string in it repaired.

    Returns the very same object when nothing needed repair, which is nearly always: callers can
    tell with ``is`` whether the platform sent a broken character.
    """
    if _sound(value):
        return value
    return cast(_T, _repair(value))


def _repair(value: object) -> object:
    plan = _plan(typing.cast(type, type(value)))
    if plan == "str":
        return repaired_text(value)  # type: ignore[arg-type]
    if plan == "other":
        return value
    if plan == "tuple":
        assert isinstance(value, tuple)
        items = tuple(_repair(item) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if plan == "mapping":
        assert isinstance(value, Mapping)
        out: dict[object, object] = {}
        changed = False
        for key, item in value.items():
            fixed_key, fixed_item = _repair(key), _repair(item)
            changed = changed or fixed_key is not key or fixed_item is not item
            out[fixed_key] = fixed_item
        return out if changed else value
    getter, names = plan
    changes: dict[str, object] = {}
    for name, item in zip(names, getter(value), strict=True):
        fixed = _repair(item)
        if fixed is not item:
            changes[name] = fixed
    return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]
