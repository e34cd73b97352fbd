"""The patient-privacy detector: each identifier kind, the numbers that are not identifiers, and
the labelled set's figures (so a change that costs recall or adds false alarms fails here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbridge.services.phi_detector import detect, mask

LABELLED = Path(__file__).resolve().parent.parent / "data" / "phi_labelled.jsonl"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Mrs Khan in bed 4 is septic, lactate 4.1", "name"),
        ("Pt John Smith needs a CT head", "name"),
        ("Ahmed Hassan, 67M, STEMI, door to balloon 45 min", "name"),
        ("Smt Lakshmi Devi in the female ward, Hb 6.2", "name"),
        ("70yo F in bay C bed 2, DOB 12/03/1951, can you look at her ECG", "date"),
        ("admitted on 3 March 2026 with DKA", "date"),
        ("can someone chase the CT for MRN 00482913?", "record_number"),
        ("UHID: 100384722, please check the culture report", "record_number"),
        ("NHS number 943 476 5919 please check", "nhs_number"),
        ("bloods for 9434765919 never came back", "nhs_number"),
        ("SSN 078-05-1120 on the form", "ssn"),
        ("his Medicare ID is 1EG4-TE5-MK73", "insurance_number"),
        ("aadhaar 2345 6789 0124 mismatch", "insurance_number"),
        ("call the son on (212) 555-0199", "phone"),
        ("ring the ward on 07700 900123", "phone"),
        ("his brother is on +20 100 555 1234", "phone"),
        ("email jane.doe@example.com for the rota", "email"),
        ("she lives at 14 Elm Street, Springfield", "address"),
        ("ambulance to SW1A 1AA", "address"),
        ("94 year old lady with a fall", "age_over_89"),
        ("aged 92, frail, on 11 medicines", "age_over_89"),
        ("attached smith_wound.jpg", "photo"),
    ],
)
def test_each_identifier_kind_is_found(text: str, kind: str) -> None:
    assert kind in detect(text).kinds


@pytest.mark.parametrize(
    "text",
    [
        "HbA1c 9.2%, on metformin 500mg BD, eGFR 45",
        "BP 150/95, HR 110, SpO2 92% on 2L",
        "See NCT04280705 and doi 10.1056/NEJMoa2034577, PMID 32109013",
        "We have 920 beds in the trust and 14 ICU beds",
        "NICE 2019 guideline says treat above 140/90",
        "65 year old man with chest pain, troponin 56",
        "89 yo with a UTI",  # ages up to 89 are not identifiers
        "Dr Eric Topol tweeted about this trial",
        "posted ecg_lead_ii.png from the teaching set",
        "see page 94 of the BNF",
        "the NHS spends 12% on drugs",
        "bleep 4521 for the med reg",
    ],
)
def test_ordinary_clinical_numbers_are_not_identifiers(text: str) -> None:
    assert detect(text).kinds == ()


def test_an_nhs_number_needs_its_check_digit_without_the_keyword() -> None:
    assert detect("results for 943 476 5919 are back").kinds == ("nhs_number",)
    assert detect("results for 411 980 3649 are back").kinds == ()  # no valid check digit
    assert "nhs_number" in detect("NHS no 411 980 3649").kinds  # the keyword says what it is


def test_mask_replaces_every_identifier_and_keeps_the_clinical_detail() -> None:
    text = "Mrs Khan in bed 4, DOB 12/03/1951, MRN 00482913, son on (212) 555-0199: K 6.1"
    masked = mask(text, detect(text))
    for identifier in ("Khan", "12/03/1951", "00482913", "555-0199"):
        assert identifier not in masked
    assert "[name]" in masked and "[date]" in masked and "K 6.1" in masked


def test_a_clean_message_is_returned_unmasked() -> None:
    text = "lactate 4.1, started the sepsis six"
    assert mask(text, detect(text)) == text


def _figures(split: str) -> tuple[float, float]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["split"] == split]
    flagged = [(row["label"], detect(row["text"]).flagged) for row in rows]
    positives = [hit for label, hit in flagged if label == 1]
    ordinary = [hit for label, hit in flagged if label == 0]
    return sum(positives) / len(positives), sum(ordinary) / len(ordinary)


def test_the_labelled_set_meets_the_goals_on_the_tuning_part() -> None:
    recall, false_alarms = _figures("tune")
    assert recall >= 0.95 and false_alarms <= 0.02


def test_the_held_out_part_does_not_regress() -> None:
    recall, false_alarms = _figures("holdout")
    assert recall >= 0.9 and false_alarms <= 0.02


def test_the_labelled_set_is_large_and_balanced() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 400
    assert {row["country"] for row in rows} == {"US", "UK", "EG", "IN"}
    assert abs(sum(row["label"] for row in rows) - len(rows) / 2) <= len(rows) * 0.05
