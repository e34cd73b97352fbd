"""The hostility scorer: an attack on the person is hostile, harsh words about an idea are not."""

from __future__ import annotations

import pytest

from chatbridge.services.pileon.hostility import score


@pytest.mark.parametrize(
    "text",
    [
        "you're not even a real doctor",
        "Are you even qualified to comment on this?",
        "who let you near patients?",
        "did you even go to medical school",
        "How did you pass your boards, honestly",
        "you are a total idiot",
        "youre a clown",
        "fake doctor spreading nonsense again",
        "god help your patients",
        "you should be ashamed of yourself",
        "You should not be practising medicine",
        "stay in your lane, nurse",
        "typical diversity hire",
        "Dr Patel is an embarrassment to the profession",
        "you are clueless about this, awful",
    ],
)
def test_attacks_on_the_person_are_hostile(text: str) -> None:
    assert score(text, names=("Dr Patel",)).hostile


@pytest.mark.parametrize(
    "text",
    [
        "this trial is garbage",
        "This study is garbage and the authors are frauds",
        "I disagree with your reading of the NNT",
        "You are wrong: the trial was underpowered.",
        "You are wrong and this is dangerous advice for patients",
        "Terrible study, you are cherry-picking the worst data",
        "congratulations!",
        "Congrats, you absolutely deserve it!",
        "Welcome aboard, you are not a real doctor until you survive nights haha, congrats!!",
        "Sorry for your loss, terrible news",
        "you killed that exam, brutal questions too",
        "The dose was 5 mg, not 50",
    ],
)
def test_harsh_words_about_ideas_and_warm_words_are_not(text: str) -> None:
    assert not score(text).hostile


def test_words_aimed_at_nobody_are_not_scored() -> None:
    result = score("what an idiotic guideline")
    assert not result.aimed and result.score == 0.0


def test_a_members_name_aims_the_words_like_the_second_person() -> None:
    assert score("Sam is an idiot and a fraud", names=("Sam",)).aimed
    assert not score("Sam is an idiot and a fraud").aimed


def test_an_insult_with_a_members_name_is_hostile() -> None:
    assert score("Sam is an idiot and a fraud", names=("Sam",)).hostile
