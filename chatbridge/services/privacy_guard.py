"""The patient-privacy guard's policy: which detector findings count for a community, and what the
bot does about a post that has them.

The detector (phi_detector) is the same everywhere; communities differ only in their mode and in
the kinds they choose not to flag, so `chatbridge scan --community NAME` and the bot agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbridge.config import GuardMode, PrivacyGuardConfig
from chatbridge.services.phi_detector import CLEAN, Kind, Scan, detect, mask

KIND_ADVICE: dict[Kind, str] = {
    "name": "a patient's name (say 'a 70-year-old woman' instead)",
    "date": "a date tied to a patient, such as a date of birth or admission (say 'admitted last week')",
    "record_number": "a record number such as an MRN or hospital number",
    "nhs_number": "an NHS number",
    "insurance_number": "an insurance or ID number (Medicare, Aadhaar, national ID)",
    "ssn": "a Social Security number",
    "phone": "a phone number",
    "email": "an e-mail address",
    "address": "a postal address or postcode",
    "age_over_89": "an exact age over 89 (say '90 or older')",
    "photo": "a photo whose file name or caption names a patient (rename it before posting)",
}
"""What each kind is, in words for the author: never the identifier itself."""


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """One community's guard, resolved from the config."""

    mode: GuardMode
    ignore: frozenset[Kind]

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def screen(self, text: str) -> Scan:
        """The detector's findings that count in this community (none when the guard is off)."""
        if not self.active:
            return CLEAN
        scan = detect(text)
        if not scan.findings or not self.ignore:
            return scan
        return Scan(tuple(f for f in scan.findings if f.kind not in self.ignore))


DEFAULT_POLICY = GuardPolicy("warn", frozenset())


def policy_for(config: PrivacyGuardConfig, community: str | None) -> GuardPolicy:
    """The policy for a community by name (its override, else the defaults); None: the defaults."""
    rules = config.communities.get(community) if community is not None else None
    mode = rules.mode if rules is not None and rules.mode is not None else config.mode
    ignore = rules.ignore if rules is not None and rules.ignore is not None else config.ignore
    return GuardPolicy(mode, frozenset(ignore))


def masked(text: str, scan: Scan) -> str:
    """The author's text with each identifier replaced by its kind: safe to store, show and send."""
    return mask(text, scan)


def advice(scan: Scan) -> list[str]:
    """One line per kind found, saying what it is and how to rephrase: never the identifier."""
    return [KIND_ADVICE[kind] for kind in scan.kinds]
