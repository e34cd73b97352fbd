"""Is a message an attack on a person? Pure and cheap, so it can run on every message.

VADER (a maintained sentiment lexicon that ships inside its package) gives the message's valence;
on its own it cannot tell "this trial is garbage" (harsh about an idea, which the community welcomes)
from "you're not a real doctor" (neutral words, an attack on the person). So its score only counts
when the words are aimed at someone — the second person or a member's name — and a set of
person-attack patterns (credentials questioned, "who let you…", insults with "you") carries the
attacks that sound neutral to a sentiment lexicon.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

HOSTILE_AT = 0.6
"""A score at or above this is hostile."""

_ROLE = (
    r"(?:doctor|dr|physician|clinician|nurse|md|gp|surgeon|consultant|medic|professional|scientist|expert)"
)
_INSULT = (
    r"(?:idiot|moron|imbecile|stupid|dumb|clown|fraud|quack|joke|liar|troll|shill|charlatan|hack|"
    r"incompetent|useless|ignorant|clueless|pathetic|disgrace|embarrassment|disgusting|dangerous|"
    r"menace|loser|muppet|halfwit|dimwit|fool|grifter|snake ?oil salesman|waste of space|nobody)"
)
_ATTACK_PATTERNS: tuple[str, ...] = (
    rf"\bnot (?:even )?an? (?:real|actual|proper|licensed|qualified) {_ROLE}",
    rf"\b(?:are|r) (?:you|u) (?:even|actually|really|sure you're|seriously) (?:an? )?(?:real |actual )?"
    rf"(?:{_ROLE}|qualified|licensed|trained|certified|allowed|medical)",
    r"\bwho (?:let|allowed|gave) (?:you|u)\b",
    r"\b(?:did|have) (?:you|u) (?:even |ever )?(?:go to|went to|finish|pass|attend|complete)(?:ed)? "
    r"(?:med(?:ical)? school|residency|your boards|boards|training|foundation)",
    r"\bhow (?:did|do) (?:you|u) (?:even )?"
    r"(?:pass|get (?:licensed|registered|hired|a licen[cs]e)|graduate)",
    r"\bwhere did (?:you|u) (?:get your|buy your|train|study|qualify)",
    r"\b(?:bought|bought your|fake|forged) (?:your )?(?:degree|licen[cs]e|diploma|credentials)",
    rf"\b(?:fake|so-called|pretend|wannabe|self-proclaimed) {_ROLE}",
    rf"\b(?:you(?:'re|’re|re| are| r)|ur|u r|what an?) (?:(?:such|an?|a total|a complete|so|an absolute|"
    rf"the most|a real|a dangerous|a fucking|fucking|literally an?) )*{_INSULT}\b",
    rf"\b{_INSULT} (?:like you|of a (?:{_ROLE}|person|human))\b",
    r"\byou should(?:n't| not) (?:be (?:practi[sc]ing|allowed|anywhere near|near|treating|licensed)|have "
    r"(?:passed|graduated|been (?:licensed|hired|allowed)))",
    r"\b(?:lose|losing|pull|revoke|strip) (?:your|ur) (?:licen[cs]e|registration)",
    r"\breport(?:ing|ed)? (?:you|u) to (?:the )?"
    r"(?:gmc|board|medical council|licensing|nmc|regulator|your)",
    r"\b(?:stay in your lane|know your place|nobody asked (?:you|u)|shut (?:up|your mouth)|"
    r"get (?:lost|out)|go away|go back to (?:school|nursing|wherever))\b",
    r"\b(?:diversity|affirmative action|quota|token) hire\b",
    r"\btypical (?:woman|female|girl|foreign|immigrant|img)\b",
    r"\b(?:sweetie|sweetheart|little girl|honey)\b",
    r"\byou people\b",
    r"\b(?:you|u) (?:disgust|sicken|repulse) me\b",
    r"\b(?:should be|are you not|aren't you) ashamed of (?:yourself|urself)",
    r"\b(?:kys|kill yourself|die in a)\b",
    r"\b(?:pity|feel sorry for|god help) (?:your|ur) patients\b",
    r"\b(?:your|ur) patients (?:deserve better|are doomed|should (?:sue|run))",
    r"\b(?:embarrassment|disgrace|shame) to (?:the|our) profession\b",
    r"\bshould be (?:struck off|fired|banned|sacked|deregistered)\b",
)
_ATTACK = re.compile("|".join(f"(?:{p})" for p in _ATTACK_PATTERNS))
"""One alternation: a single pass over the text, whatever the number of patterns. Every pattern
here is lowercase and runs on the lowercased text: matching without IGNORECASE is several times
faster in Python's engine."""
_SECOND_PERSON = re.compile(r"\b(?:you|your|you're|youre|yours|yourself|u|ur|ya)\b")
_PERSON_INSULT = re.compile(rf"\b(?!(?:dangerous|useless|disgusting|joke|hack|nobody)\b){_INSULT}\b")
"""Insults that name a person; words as often said of an idea ("dangerous advice") are left out."""
_YOU_SUBJECT = re.compile(r"\b(?:you|u|you're|you’re|youre|yourself)\b")


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    """One analyser per process: loading the lexicon costs about 15 ms, scoring a message microseconds."""
    return SentimentIntensityAnalyzer()


@dataclass(frozen=True, slots=True)
class Hostility:
    """How hostile a message is toward a person, and why (for the case card's timeline)."""

    score: float
    attack: bool
    """A person-attack pattern matched (credentials, insults with "you", "who let you…")."""
    aimed: bool
    """The words are aimed at someone: second person or a member's name."""
    valence: float
    """VADER's compound score, -1 (most negative) to 1 (0 where it was not consulted)."""
    insult_word: bool = False
    """An insult is in the text, aimed or not: a member's name could aim it (worth a look-up)."""

    @property
    def hostile(self) -> bool:
        return self.score >= HOSTILE_AT


def score(text: str, names: Sequence[str] = ()) -> Hostility:
    """Score `text` as an attack on a person; `names` are display names of members it may address."""
    body = text[:2000]
    lowered = body.lower()
    attack = _ATTACK.search(lowered) is not None
    named = any(len(name) >= 3 and name.lower() in lowered for name in names)
    aimed = named or bool(_SECOND_PERSON.search(lowered))
    insult_word = _PERSON_INSULT.search(lowered) is not None
    insult = aimed and insult_word
    if not attack and not insult:
        # Negative valence alone never reaches HOSTILE_AT, so the lexicon is not consulted: most
        # messages stop here, after three regular-expression passes.
        return Hostility(0.0, False, aimed, 0.0, insult_word)
    valence = float(_analyzer().polarity_scores(body)["compound"])
    points = 0.0
    if attack:
        points += 0.7
    if insult:
        points += 0.4
    if aimed:
        # Negative valence alone stays below HOSTILE_AT (harsh words about a study are welcome);
        # it tips an insult aimed at someone over.
        weight = 0.5 if named or _YOU_SUBJECT.search(lowered) else 0.25
        points += weight * max(0.0, -valence)
    if valence >= 0.75 or (valence >= 0.5 and not attack):
        points = 0.0  # warm words around a teasing phrase: a welcome, a congratulation
    return Hostility(round(min(points, 1.5), 3), attack, aimed, valence, insult_word)
