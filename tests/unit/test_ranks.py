"""Trophies and titles: the shipped defaults, config validation, awarding exactly once, the ladder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chatbridge.forum.ranks import (
    Criterion,
    MemberStats,
    Rank,
    Trophy,
    TrophyConfig,
    TrophyConfigError,
    earned,
    load_trophy_config,
    newly_earned,
    next_rank,
    parse_trophy_config,
    rank_title,
    trophy_points,
)

DEFAULTS = load_trophy_config(None)

VALID = """
[[trophies]]
key = "first-message"
title = "First Message"
description = "Post your first message."
criterion = "messages"
threshold = 1
points = 1

[[trophies]]
key = "keeps-coming-back"
title = "Keeps Coming Back"
description = "30 messages posted."
criterion = "messages"
threshold = 30
points = 5

[[trophies]]
key = "somebody-likes-you"
title = "Somebody Likes You"
description = "One of your messages was liked."
criterion = "likes_received"
threshold = 1
points = 2

[[ranks]]
title = "New Member"
min_points = 0

[[ranks]]
title = "Bronze Member"
min_points = 5
"""


def config() -> TrophyConfig:
    return parse_trophy_config(VALID)


# --- the shipped defaults -------------------------------------------------------------------------------


def test_defaults_load_and_read_like_xenforo() -> None:
    titles = {trophy.title for trophy in DEFAULTS.trophies}
    assert {"First Message", "Keeps Coming Back", "Somebody Likes You", "I Like It a Lot"} <= titles
    assert {"Seems to Like It Here", "Thread Starter"} <= titles
    assert [rank.title for rank in DEFAULTS.ranks] == [
        "New Member",
        "Bronze Member",
        "Silver Member",
        "Gold Member",
        "Platinum Member",
    ]


def test_defaults_use_every_criterion_and_the_top_rank_is_reachable() -> None:
    assert {trophy.criterion for trophy in DEFAULTS.trophies} == set(Criterion)
    total = sum(trophy.points for trophy in DEFAULTS.trophies)
    assert total == 223  # the file's comment says so
    assert DEFAULTS.ranks[-1].min_points <= total


def test_defaults_first_message_is_one_message_one_point() -> None:
    first = DEFAULTS.trophy("first-message")
    assert first is not None
    assert first == Trophy("first-message", "First Message", first.description, Criterion.MESSAGES, 1, 1)


def test_defaults_ship_inside_the_package() -> None:
    shipped = Path(__file__).parents[2] / "chatbridge" / "defaults" / "trophies.toml"
    assert load_trophy_config(shipped) == DEFAULTS


def test_admins_can_point_to_their_own_file(tmp_path: Path) -> None:
    path = tmp_path / "ours.toml"
    path.write_text(VALID, encoding="utf-8")
    assert load_trophy_config(path) == config()


# --- validation -------------------------------------------------------------------------------------------


def replace_line(old: str, new: str, *, occurrence: int = 1) -> str:
    parts = VALID.split(old)
    assert len(parts) > occurrence, old
    return old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            replace_line('criterion = "likes_received"', 'criterion = "msgs"'),
            "trophies.toml: trophies[2].criterion: expected one of messages, likes_received, "
            "threads_started, replies_to_others, days_since_joining; got 'msgs'",
        ),
        (
            replace_line("threshold = 30", 'threshold = "30"'),
            "trophies.toml: trophies[1].threshold: expected a whole number, at least 1; got '30'",
        ),
        (
            replace_line("threshold = 30", "threshold = 0"),
            "trophies.toml: trophies[1].threshold: expected a whole number, at least 1; got 0",
        ),
        (
            replace_line("threshold = 30", "threshold = true"),
            "trophies.toml: trophies[1].threshold: expected a whole number, at least 1; got True",
        ),
        (
            replace_line("threshold = 30", "threshold = 2.5"),
            "trophies.toml: trophies[1].threshold: expected a whole number, at least 1; got 2.5",
        ),
        (
            replace_line("points = 5", "points = -1"),
            "trophies.toml: trophies[1].points: expected a whole number, at least 0; got -1",
        ),
        (
            replace_line("threshold = 30\n", ""),
            "trophies.toml: trophies[1].threshold: missing; expected a whole number, at least 1",
        ),
        (
            replace_line("threshold = 30", "treshold = 30"),
            "trophies.toml: trophies[1]: unknown field 'treshold'; expected key, title, description, "
            "criterion, threshold, points",
        ),
        (
            replace_line('key = "keeps-coming-back"', 'key = "first-message"'),
            "trophies.toml: trophies[1].key: 'first-message' is already used by trophies[0]",
        ),
        (
            replace_line('key = "keeps-coming-back"', 'key = "Keeps Coming Back"'),
            "trophies.toml: trophies[1].key: expected lowercase letters, digits, '-' or '_' (like "
            "'first-message'); got 'Keeps Coming Back'",
        ),
        (
            replace_line('title = "First Message"', 'title = "  "'),
            "trophies.toml: trophies[0].title: expected text of 1 to 100 characters; got '  '",
        ),
        (
            replace_line("min_points = 0", "min_points = 1"),
            "trophies.toml: ranks[0].min_points: the first rank must start at 0; got 1",
        ),
        (
            replace_line("min_points = 5", "min_points = 0"),
            "trophies.toml: ranks[1].min_points: must be greater than ranks[0].min_points (0); got 0",
        ),
        (
            replace_line('title = "Bronze Member"', 'title = "New Member"'),
            "trophies.toml: ranks[1].title: 'New Member' is already used by ranks[0]",
        ),
        (
            VALID.split("[[ranks]]")[0],
            "trophies.toml: ranks: missing; expected one or more [[ranks]] tables",
        ),
        (
            "ranks = []\ntrophies = []\n",
            "trophies.toml: ranks: expected at least one [[ranks]] table, starting at min_points = 0",
        ),
        (
            VALID + "\n[badges]\nx = 1\n",
            "trophies.toml: badges: unknown top-level key; expected trophies and ranks",
        ),
        (
            'trophies = "none"\n' + VALID.split("[[trophies]]", 1)[0],
            "trophies.toml: trophies: expected a list of [[trophies]] tables; got 'none'",
        ),
        (
            "trophies = [1]\n[[ranks]]\ntitle = 'x'\nmin_points = 0\n",
            "trophies.toml: trophies[0]: expected a table with key, title, description, criterion, "
            "threshold, points; got 1",
        ),
    ],
)
def test_validation_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(TrophyConfigError) as caught:
        parse_trophy_config(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_criterion_that_is_not_text_is_reported_not_crashed() -> None:
    text = replace_line('criterion = "likes_received"', "criterion = [1, 2]")
    with pytest.raises(
        TrophyConfigError, match=r"trophies\[2\]\.criterion: expected one of .*; got \[1, 2\]"
    ):
        parse_trophy_config(text)


def test_invalid_toml_names_the_file_and_place() -> None:
    with pytest.raises(TrophyConfigError, match=r"^mine\.toml: not valid TOML: .*line 2") as caught:
        parse_trophy_config("[[trophies]]\nkey = \n", source="mine.toml")
    assert "\n" not in str(caught.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TrophyConfigError, match=r"nope\.toml: cannot read the trophy file: No such file"):
        load_trophy_config(missing)


def test_empty_trophy_list_is_allowed() -> None:
    loaded = parse_trophy_config("trophies = []\n[[ranks]]\ntitle = 'Member'\nmin_points = 0\n")
    assert loaded.trophies == ()
    assert rank_title(loaded, 10_000) == "Member"


def test_hand_built_configs_keep_the_invariants() -> None:
    trophy = Trophy("a", "A", "d", Criterion.MESSAGES, 1, 1)
    with pytest.raises(ValueError, match="unique"):
        TrophyConfig((trophy, trophy), (Rank("New", 0),))
    with pytest.raises(ValueError, match="first rank"):
        TrophyConfig((), (Rank("New", 3),))
    with pytest.raises(ValueError, match="first rank"):
        TrophyConfig((), ())
    with pytest.raises(ValueError, match="increase"):
        TrophyConfig((), (Rank("New", 0), Rank("Old", 0)))


def test_config_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.trophies = ()  # type: ignore[misc]


# --- member stats -----------------------------------------------------------------------------------------


def test_member_stats_defaults_and_lookup() -> None:
    stats = MemberStats(messages=3, days_since_joining=10)
    assert stats.value(Criterion.MESSAGES) == 3
    assert stats.value(Criterion.LIKES_RECEIVED) == 0
    assert stats.value(Criterion.DAYS_SINCE_JOINING) == 10


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_member_stats_must_be_whole_and_non_negative(bad: object) -> None:
    with pytest.raises(ValueError, match=r"MemberStats\.messages"):
        MemberStats(messages=bad)  # type: ignore[arg-type]


# --- awarding ---------------------------------------------------------------------------------------------


def keys(trophies: list[Trophy]) -> list[str]:
    return [trophy.key for trophy in trophies]


def test_earned_lists_everything_qualified_for_in_config_order() -> None:
    stats = MemberStats(messages=30, likes_received=1)
    assert keys(earned(config(), stats)) == ["first-message", "keeps-coming-back", "somebody-likes-you"]
    assert earned(config(), MemberStats()) == []


def test_the_event_that_crosses_the_threshold_awards() -> None:
    before = MemberStats(messages=29)
    after = MemberStats(messages=30)
    assert keys(newly_earned(config(), before, after, frozenset({"first-message"}))) == ["keeps-coming-back"]


def test_nothing_is_awarded_twice() -> None:
    already = frozenset({"first-message", "keeps-coming-back"})
    assert newly_earned(config(), MemberStats(messages=30), MemberStats(messages=31), already) == []


def test_below_threshold_awards_nothing() -> None:
    assert newly_earned(config(), MemberStats(messages=0), MemberStats(messages=0), frozenset()) == []


def test_one_event_can_award_several_trophies() -> None:
    # A first message that is also somehow liked (imported history) earns both at once.
    after = MemberStats(messages=1, likes_received=1)
    assert keys(newly_earned(config(), MemberStats(), after, frozenset())) == [
        "first-message",
        "somebody-likes-you",
    ]


def test_missed_trophies_are_backfilled_on_the_next_event() -> None:
    # The member passed 30 messages before the trophy existed (or while the bot was down).
    before = MemberStats(messages=40)
    after = MemberStats(messages=41)
    assert keys(newly_earned(config(), before, after, frozenset({"first-message"}))) == ["keeps-coming-back"]


def test_a_count_that_drops_and_rises_again_does_not_re_award() -> None:
    already = frozenset({"first-message", "keeps-coming-back"})
    deleted = MemberStats(messages=29)
    assert newly_earned(config(), MemberStats(messages=30), deleted, already) == []
    assert newly_earned(config(), deleted, MemberStats(messages=30), already) == []


def test_replaying_a_whole_history_awards_each_trophy_exactly_once() -> None:
    awarded: list[str] = []
    stats = MemberStats()
    for day in range(1, 400):
        after = MemberStats(
            messages=stats.messages + 3,
            likes_received=stats.likes_received + 2,
            threads_started=stats.threads_started + (day % 5 == 0),
            replies_to_others=stats.replies_to_others + 2,
            days_since_joining=day,
        )
        awarded += keys(newly_earned(DEFAULTS, stats, after, frozenset(awarded)))
        stats = after
    assert sorted(awarded) == sorted(trophy.key for trophy in DEFAULTS.trophies)
    assert len(awarded) == len(set(awarded))


# --- points and titles ------------------------------------------------------------------------------------


def test_trophy_points_sum_awarded_keys_once_and_ignore_retired_ones() -> None:
    assert trophy_points(config(), ["first-message", "somebody-likes-you"]) == 3
    assert trophy_points(config(), ["first-message", "first-message"]) == 1
    assert trophy_points(config(), ["retired-trophy"]) == 0
    assert trophy_points(config(), []) == 0


@pytest.mark.parametrize(
    ("points", "title", "following"),
    [
        (-5, "New Member", ("Bronze Member", 15)),
        (0, "New Member", ("Bronze Member", 10)),
        (9, "New Member", ("Bronze Member", 1)),
        (10, "Bronze Member", ("Silver Member", 30)),
        (12, "Bronze Member", ("Silver Member", 28)),
        (40, "Silver Member", ("Gold Member", 60)),
        (100, "Gold Member", ("Platinum Member", 75)),
        (175, "Platinum Member", None),
        (10_000, "Platinum Member", None),
    ],
)
def test_title_ladder(points: int, title: str, following: tuple[str, int] | None) -> None:
    assert rank_title(DEFAULTS, points) == title
    assert next_rank(DEFAULTS, points) == following
