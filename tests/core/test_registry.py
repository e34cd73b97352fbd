"""One declaration, read as text: parsing, conversion and generated usage."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from chatbridge.model import Privilege
from chatbridge.registry import MemberRef, Param, Registry, UsageError, command, tokenize


@command("case new", help="Open a case.", privilege=Privilege.MODERATOR)
async def case_new(
    ctx: object,
    member: Annotated[MemberRef, Param("Who")],
    severity: Annotated[Literal["low", "high"], Param("How bad")],
    days: Annotated[int, Param("For how long", min_value=1, max_value=30)],
    note: Annotated[str | None, Param("Anything else", rest=True)] = None,
) -> None:
    del ctx, member, severity, days, note


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add(case_new.__chatbridge_command__)
    return registry


def test_usage_is_generated_from_the_declaration(registry: Registry) -> None:
    spec = registry.specs[("case", "new")]
    assert spec.usage() == "!case new <member> <low|high> <days> [note…]"
    assert [p.kind for p in spec.params] == ["member", "str", "int", "str"]


def test_text_is_parsed_and_converted(registry: Registry) -> None:
    parsed = registry.parse("case new @bob HIGH 3 keeps posting   screenshots")
    assert parsed.options == {
        "member": "@bob",
        "severity": "high",
        "days": 3,
        "note": "keeps posting   screenshots",
    }
    assert isinstance(parsed.options["member"], MemberRef)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case new bob medium 3", "severity must be one of low, high"),
        ("case new bob low lots", "must be a whole number"),
        ("case new bob low 90", "must be at most 30"),
        ("case new bob", "needs <low|high>"),
        ('case new "bob low 3', "opened but never closed"),
        ("case", "needs a subcommand: new"),
        ("cases", "I don't know the command 'cases'"),
    ],
)
def test_mistakes_are_explained(registry: Registry, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        registry.parse(text)


def test_phone_quotes_and_escapes() -> None:
    assert [t.value for t in tokenize("“Night shifts” ‘and days’ a\\ b")] == [
        "Night shifts",
        "and days",
        "a b",
    ]


def test_prefixes(registry: Registry) -> None:
    assert registry.strip_prefix("!case new") == "case new"
    assert registry.strip_prefix("  /case new") == "case new"
    assert registry.strip_prefix("! not a command") is None
    assert registry.strip_prefix("plain chat") is None


def test_the_bundled_commands_load_and_never_clash() -> None:
    registry = Registry.from_package()
    names = {spec.name for spec in registry}
    assert {"thread new", "profile set", "share", "like", "leaderboard", "help"} <= names
    menus = {spec.context_menu.label for spec in registry if spec.context_menu}
    assert {"Like", "Share", "View profile"} <= menus
    for spec in registry:
        assert spec.help.endswith("."), spec.name
        for param in spec.params:
            assert param.description, f"{spec.name}: {param.name}"


def test_apostrophes_in_chat_are_letters() -> None:
    assert [t.value for t in tokenize("you aren't a real doctor 'til you prove it")] == [
        "you",
        "aren't",
        "a",
        "real",
        "doctor",
        "'til",
        "you",
        "prove",
        "it",
    ]
    assert [t.value for t in tokenize("'quoted words' and \"more here\"")] == [
        "quoted words",
        "and",
        "more here",
    ]
    with pytest.raises(UsageError, match="never closed"):
        tokenize('"unclosed title')


@command("nudge", help="Nudge someone.")
async def nudge(
    ctx: object,
    member: Annotated[MemberRef, Param("Who")],
    points: Annotated[int, Param("How many points")] = 1,
    reason: Annotated[str | None, Param("Why", rest=True)] = None,
) -> None:
    del ctx, member, points, reason


def test_an_optional_number_may_be_left_out() -> None:
    registry = Registry()
    registry.add(nudge.__chatbridge_command__)  # type: ignore[attr-defined]
    left_out = registry.parse("nudge bob spam links").options
    assert left_out == {"member": "bob", "points": 1, "reason": "spam links"}
    given = registry.parse("nudge bob 3 spam links").options
    assert given == {"member": "bob", "points": 3, "reason": "spam links"}


def test_a_quote_inside_quoted_text_is_kept_not_cut() -> None:
    """A quote that does not end a word does not close: the title is kept whole."""
    assert [t.value for t in tokenize('"Robert"); DELETE x" body')] == ['Robert"); DELETE x', "body"]
    assert [t.value for t in tokenize('"She said \\"no\\"" body')] == ['She said "no"', "body"]
    assert [t.value for t in tokenize('"a"b c')] == ["ab", "c"]  # no quote ends a word: as a shell
    assert [t.value for t in tokenize("“it’s “fine”” x")] == ["it’s “fine”", "x"]


@pytest.mark.parametrize("number", ["²", "٣", "１２", "3.5", "9" * 5000])
def test_numbers_are_ascii_digits_within_bounds(registry: Registry, number: str) -> None:
    with pytest.raises(UsageError, match=r"must be (a whole number|at most 30)"):
        registry.parse(f"case new bob low {number}")
