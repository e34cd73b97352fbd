"""resolve_country: whatever a member types for "Practicing medicine in" lands on one ISO country."""

from __future__ import annotations

import time

import pycountry
import pytest

from chatbridge.forum.countries import Country, country_for_code, resolve_country
from chatbridge.forum.text import InputError


@pytest.mark.parametrize(
    ("text", "alpha2"),
    [
        # names, any case, surrounding space
        ("Egypt", "EG"),
        ("egypt", "EG"),
        ("  EGYPT ", "EG"),
        # codes
        ("EG", "EG"),
        ("eg", "EG"),
        ("EGY", "EG"),
        ("gbr", "GB"),
        # official names, and ISO's qualifier-last style in both directions
        ("Arab Republic of Egypt", "EG"),
        ("Egypt, Arab Republic of", "EG"),
        ("Korea, Republic of", "KR"),
        ("Republic of Korea", "KR"),
        ("Iran, Islamic Republic of", "IR"),
        ("United Kingdom of Great Britain and Northern Ireland", "GB"),
        # common names
        ("Iran", "IR"),
        ("South Korea", "KR"),
        ("North Korea", "KP"),
        ("Syria", "SY"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
        ("Bolivia", "BO"),
        ("Tanzania", "TZ"),
        ("Palestine", "PS"),
        # aliases ISO does not carry
        ("UK", "GB"),
        ("united kingdom", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("USA", "US"),
        ("US", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("UAE", "AE"),
        ("KSA", "SA"),
        ("Turkey", "TR"),
        ("Russia", "RU"),
        ("Ivory Coast", "CI"),
        ("Holland", "NL"),
        ("Czech Republic", "CZ"),
        ("DR Congo", "CD"),
        ("Burma", "MM"),
        # accents, punctuation, spacing, "the", "Saint"/"St."
        ("Côte d'Ivoire", "CI"),
        ("cote d ivoire", "CI"),
        ("Cote dIvoire", "CI"),
        ("Türkiye", "TR"),
        ("turkiye", "TR"),
        ("Curaçao", "CW"),
        ("the Gambia", "GM"),
        ("The Netherlands", "NL"),
        ("St. Lucia", "LC"),
        ("Saint Lucia", "LC"),
        ("St Kitts & Nevis", "KN"),
        ("Guinea-Bissau", "GW"),
        ("Guinea Bissau", "GW"),
        ("Trinidad & Tobago", "TT"),
        # parenthetical ISO names
        ("Falkland Islands", "FK"),
        ("Holy See", "VA"),
        ("Vatican", "VA"),
        # "Congo" alone is the Republic of the Congo, as in ISO
        ("Congo", "CG"),
    ],
)
def test_resolves(text: str, alpha2: str) -> None:
    assert resolve_country(text).alpha2 == alpha2


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("EG", "Egypt"),
        ("GB", "United Kingdom"),
        ("KR", "South Korea"),
        ("RU", "Russia"),
        ("PS", "Palestine"),
        ("CD", "Democratic Republic of the Congo"),
        ("CI", "Côte d'Ivoire"),
        ("TW", "Taiwan"),
    ],
)
def test_display_name_is_the_friendly_one(text: str, name: str) -> None:
    assert resolve_country(text).name == name


def test_every_iso_country_resolves_by_codes_and_name_to_itself() -> None:
    for record in pycountry.countries:
        for text in (record.alpha_2, record.alpha_3, record.name):
            assert resolve_country(text).alpha2 == record.alpha_2, text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Egpyt", "'Egpyt' isn't a country I know. Did you mean Egypt?"),
        ("Nigerai", "'Nigerai' isn't a country I know. Did you mean Nigeria or Niger?"),
        ("Korea", "'Korea' isn't a country I know. Did you mean South Korea, North Korea or Kenya?"),
        ("Untied Kingdom", "'Untied Kingdom' isn't a country I know. Did you mean United Kingdom?"),
        (
            "Xyzzy",
            "'Xyzzy' isn't a country I know. Please use its English name or its 2- or 3-letter code, "
            "like Egypt, EG or EGY.",
        ),
        ("", "Please name a country, like Egypt, EG or EGY."),
        ("   ", "Please name a country, like Egypt, EG or EGY."),
    ],
)
def test_unknown_input_gets_a_helpful_refusal(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_country(text)
    assert str(caught.value) == message


def test_suggestions_are_at_most_three() -> None:
    with pytest.raises(InputError) as caught:
        resolve_country("Guinea Republic")
    suggested = caught.value.message.split("Did you mean ", 1)[1].rstrip("?")
    assert len(suggested.replace(" or ", ", ").split(", ")) <= 3


def test_unknown_input_is_echoed_inertly() -> None:
    with pytest.raises(InputError) as caught:
        resolve_country("@everyone **now**")
    assert "@\u200beveryone \\*\\*now\\*\\*" in caught.value.message


def test_very_long_input_is_refused_without_searching() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError, match="too long"):
        resolve_country("x" * 100_000)
    assert time.perf_counter() - started < 0.05


def test_lookups_are_fast() -> None:
    resolve_country("Egypt")  # builds the tables once
    started = time.perf_counter()
    for _ in range(10_000):
        resolve_country("Egypt, Arab Republic of")
    assert time.perf_counter() - started < 1.0


def test_country_for_code_and_flag() -> None:
    egypt = country_for_code("eg")
    assert egypt == Country("EG", "Egypt")
    assert egypt.flag == "🇪🇬"
    assert country_for_code("GB").flag == "🇬🇧"
    with pytest.raises(KeyError):
        country_for_code("XX")


def test_country_is_immutable_and_hashable() -> None:
    egypt = resolve_country("Egypt")
    assert {egypt: 1}[Country("EG", "Egypt")] == 1
    with pytest.raises(AttributeError):
        egypt.alpha2 = "GB"  # type: ignore[misc]
