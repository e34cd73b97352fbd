"""The "Practicing medicine in: Egypt" field: free text from the member resolved to one ISO 3166 country.

Members type "egypt", "EG", "EGY", "Arab Republic of Egypt", "côte d'ivoire", "UK" or "USA"; all of
them must land on the same stored value (the alpha-2 code), and a typo should get a helpful "did you
mean" rather than a flat refusal. Names come from pycountry (ISO 3166-1) plus a short list of common
aliases ISO does not carry.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pycountry

from chatbridge.forum.text import InputError, quote_input

__all__ = ["Country", "country_for_code", "resolve_country"]

# Longer input is not a country name; refusing it early keeps difflib off pathological strings.
_MAX_INPUT = 100
_MAX_SUGGESTIONS = 3
_EXAMPLE = "like Egypt, EG or EGY"

# Shown instead of ISO's "Name, Qualifier of" forms, which read badly on a member card.
_DISPLAY: Mapping[str, str] = MappingProxyType(
    {
        "BN": "Brunei",
        "CD": "Democratic Republic of the Congo",
        "FM": "Micronesia",
        "PS": "Palestine",
        "RU": "Russia",
        "VA": "Vatican City",
        "VG": "British Virgin Islands",
        "VI": "U.S. Virgin Islands",
    }
)

# Everyday names and abbreviations that ISO 3166 does not list (keys are folded when the table is built).
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "uk": "GB",
        "britain": "GB",
        "great britain": "GB",
        "england": "GB",
        "scotland": "GB",
        "wales": "GB",
        "northern ireland": "GB",
        "usa": "US",
        "america": "US",
        "united states of america": "US",
        "uae": "AE",
        "emirates": "AE",
        "ksa": "SA",
        "saudi": "SA",
        "turkey": "TR",
        "turkiye": "TR",
        "ivory coast": "CI",
        "holland": "NL",
        "czech republic": "CZ",
        "drc": "CD",
        "dr congo": "CD",
        "congo kinshasa": "CD",
        "congo brazzaville": "CG",
        "vatican": "VA",
        "burma": "MM",
        "swaziland": "SZ",
        "macedonia": "MK",
        "cape verde": "CV",
        "east timor": "TL",
        "macau": "MO",
        "bosnia": "BA",
        "south korea": "KR",
        "north korea": "KP",
    }
)

_PUNCT_DROP = re.compile(r"[.'’`ʼ]")
_NON_WORD = re.compile(r"[\W_]+")
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Country:
    """A resolved country: ``alpha2`` is what gets stored, ``name`` what a member card shows."""

    alpha2: str
    name: str

    @property
    def flag(self) -> str:
        """The flag emoji (two regional indicator symbols), e.g. 🇪🇬 for EG."""
        return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in self.alpha2)


def _fold(text: str) -> str:
    """Lookup key: accents, case, punctuation and spacing folded away, "the"/"saint" normalised.

    "Côte d'Ivoire", "cote d ivoire" and "Cote dIvoire" -> "cotedivoire"; "U.S.A." -> "usa";
    "St. Lucia" and "Saint Lucia" -> "stlucia"; "the Gambia" -> "gambia".
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = _PUNCT_DROP.sub("", stripped.casefold().replace("&", " and "))
    words = _NON_WORD.sub(" ", lowered).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return "".join("st" if word == "saint" else word for word in words)


def _invert(name: str) -> str | None:
    """ "Korea, Republic of" -> "Republic of Korea" (ISO lists many names qualifier-last)."""
    head, sep, tail = name.partition(", ")
    return f"{tail} {head}" if sep else None


@functools.cache
def _tables() -> tuple[Mapping[str, Country], Mapping[str, Country], tuple[str, ...]]:
    """Built once, on first use: (folded key -> country, alpha-2 -> country, keys worth suggesting).

    Earlier sources win a clash: aliases, then codes, then ISO names, then derived variants. A
    derived variant that would name two countries ("Korea", "Virgin Islands") is dropped.
    """
    by_code: dict[str, Country] = {}
    names: dict[str, str] = {}
    variants: dict[str, set[str]] = {}
    index: dict[str, Country] = {}
    for record in pycountry.countries:
        alpha2: str = record.alpha_2
        iso_name: str = record.name
        common: str | None = getattr(record, "common_name", None)
        official: str | None = getattr(record, "official_name", None)
        country = Country(alpha2, _DISPLAY.get(alpha2) or common or iso_name)
        by_code[alpha2] = country
        index.setdefault(alpha2.lower(), country)
        index.setdefault(record.alpha_3.lower(), country)
        for name in (country.name, iso_name, common, official):
            if name:
                names.setdefault(_fold(name), alpha2)
        for name in (iso_name, official):
            if not name:
                continue
            derived = [_invert(name), _PARENTHETICAL.sub("", name), name.partition(", ")[0]]
            for variant in derived:
                if variant:
                    variants.setdefault(_fold(variant), set()).add(alpha2)
    for alias, alpha2 in _ALIASES.items():
        index[_fold(alias)] = by_code[alpha2]
    for key, alpha2 in names.items():
        index.setdefault(key, by_code[alpha2])
    for key, codes in variants.items():
        if len(codes) == 1 and key not in names:
            index.setdefault(key, by_code[next(iter(codes))])
    suggestible = tuple(key for key in index if len(key) > 3)
    return MappingProxyType(index), MappingProxyType(by_code), suggestible


def _suggestions(key: str) -> list[str]:
    index, _, suggestible = _tables()
    seen: list[str] = []
    for match in difflib.get_close_matches(key, suggestible, n=10, cutoff=0.6):
        name = index[match].name
        if name not in seen:
            seen.append(name)
            if len(seen) == _MAX_SUGGESTIONS:
                break
    return seen


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def resolve_country(text: str) -> Country:
    """The country a member means, from a name, official name, common alias or alpha-2/alpha-3 code.

    Case, accents, punctuation and a leading "the" do not matter ("EGYPT", "the Gambia", "Cote
    d'Ivoire", "U.S.A."); names are the English ones. Unknown input raises `InputError` with up to
    three close names: "'Egpyt' isn't a country I know. Did you mean Egypt?".
    """
    stripped = text.strip()
    if not stripped:
        raise InputError(f"Please name a country, {_EXAMPLE}.")
    if len(stripped) > _MAX_INPUT:
        raise InputError(f"That is too long for a country name. Please name one country, {_EXAMPLE}.")
    index = _tables()[0]
    key = _fold(stripped)
    found = index.get(key)
    if found is None and "," in stripped:  # "Egypt, Arab Republic of"
        inverted = _invert(stripped.replace(" ,", ","))
        found = index.get(_fold(inverted)) if inverted else None
    if found is not None:
        return found
    shown = quote_input(stripped)
    close = _suggestions(key) if key else []
    if close:
        raise InputError(f"{shown} isn't a country I know. Did you mean {_or_list(close)}?")
    raise InputError(
        f"{shown} isn't a country I know. Please use its English name or its 2- or 3-letter code, {_EXAMPLE}."
    )


def country_for_code(alpha2: str) -> Country:
    """The `Country` for a stored alpha-2 code (case-insensitive), to show it on a member card.

    Raises ``KeyError`` for a code that is not in ISO 3166-1: stored codes come from
    `resolve_country`, so an unknown one is a data bug, not a member's mistake.
    """
    return _tables()[1][alpha2.upper()]
