"""Builds tests/data/phi_labelled.jsonl: synthetic clinical chat, labelled for the privacy guard.

Every name, number and address is invented (NHS numbers are random with a valid check digit,
phones are in the 555-01xx, Ofcom drama and unallocated ranges). The "tune" part comes from templates in the
voice of US, UK, Egyptian and Indian clinicians, filled at random; the "holdout" part is hand
written (phi_holdout.py), in phrasings the templates do not use, and was never used to tune the
detector. Run: python tests/data/make_phi_labelled.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from phi_holdout import HOLDOUT  # this script's own directory

OUT = Path(__file__).with_name("phi_labelled.jsonl")
rng = random.Random(20261208)

NAMES = {
    "US": [
        "Robert Miller",
        "Linda Garcia",
        "James Johnson",
        "Maria Rodriguez",
        "Dorothy Walker",
        "Tyrone Baker",
    ],
    "UK": [
        "Margaret Thompson",
        "David Evans",
        "Siobhan O'Neill",
        "Gareth Jones",
        "Eileen Hughes",
        "Ian Fletcher",
    ],
    "EG": [
        "Mohamed Abdel-Rahman",
        "Fatma El-Sayed",
        "Ahmed Mostafa",
        "Mona Ibrahim",
        "Hassan Farouk",
        "Samira Nabil",
    ],
    "IN": ["Ravi Kumar", "Priya Sharma", "Lakshmi Devi", "Suresh Reddy", "Anjali Gupta", "Mohan Iyer"],
}
SURNAMES = {c: [n.split()[-1] for n in names] for c, names in NAMES.items()}
TITLES = {
    "US": ["Mr", "Mrs", "Ms"],
    "UK": ["Mr", "Mrs", "Miss"],
    "EG": ["Hagga", "Mr", "Mrs"],
    "IN": ["Smt", "Shri", "Mrs"],
}
DOCTORS = {
    "US": ["Dr Chen", "Dr Patel", "Dr Nguyen"],
    "UK": ["Dr Walsh", "Dr Okafor", "Dr Price"],
    "EG": ["Dr Youssef", "Dr Salah", "Dr Hany"],
    "IN": ["Dr Rao", "Dr Mehta", "Dr Banerjee"],
}
COUNTRIES = ("US", "UK", "EG", "IN")


def nhs_number() -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        digits[0] = rng.randint(4, 9)
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            s = "".join(map(str, digits)) + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}" if rng.random() < 0.6 else s


def phone(country: str) -> str:
    if country == "US":
        return rng.choice(["({a}) 555-01{x}", "{a}-555-01{x}", "+1 {a} 555 01{x}"]).format(
            a=rng.choice([201, 312, 415, 617, 713]), x=f"{rng.randint(0, 99):02d}"
        )
    if country == "UK":
        return rng.choice(["07700 900{x}", "0161 496 0{y}", "+44 7700 900{x}"]).format(
            x=f"{rng.randint(0, 999):03d}", y=f"{rng.randint(0, 999):03d}"
        )
    if country == "EG":
        return rng.choice(["010 {a} {b}", "+20 10 {a} {b}", "012 {a} {b}"]).format(
            a=f"{rng.randint(1000, 9999)}", b=f"{rng.randint(1000, 9999)}"
        )
    return rng.choice(["+91 98{a} {b}", "98{a} {b}", "+91-97{a}-{b}"]).format(
        a=f"{rng.randint(100, 999)}", b=f"{rng.randint(10000, 99999)}"
    )


def mrn() -> str:
    return rng.choice(["{d7}", "{d8}", "H{d6}", "MRN-{d6}", "{d3}-{d4}"]).format(
        d3=rng.randint(100, 999),
        d4=rng.randint(1000, 9999),
        d6=rng.randint(100000, 999999),
        d7=rng.randint(1000000, 9999999),
        d8=rng.randint(10000000, 99999999),
    )


def dob() -> str:
    y, m, d = rng.randint(1930, 2010), rng.randint(1, 12), rng.randint(1, 28)
    months = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]
    return rng.choice(
        [f"{d:02d}/{m:02d}/{y}", f"{d}.{m}.{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {months[m - 1]} {y}"]
    )


def recent_date() -> str:
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return rng.choice(
        [f"{d:02d}/{m:02d}/2026", f"{d} {months[m - 1]}", f"{months[m - 1]} {d}", f"2026-{m:02d}-{d:02d}"]
    )


def ssn() -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def mbi() -> str:
    letters = "ACDEFGHJKMNPQRTUVWXY"
    return (
        f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}{rng.randint(0, 9)}-"
        f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(0, 9)}-"
        f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(10, 99)}"
    )


def address(country: str) -> str:
    if country == "US":
        return f"{rng.randint(10, 9999)} {rng.choice(['Maple', 'Oak', 'Cedar Hill', 'Lincoln'])} {rng.choice(['Street', 'Ave', 'Drive', 'Road'])}"
    if country == "UK":
        return f"{rng.randint(1, 200)} {rng.choice(['Church', 'Victoria', 'Mill', 'Station'])} {rng.choice(['Road', 'Lane', 'Close', 'Street'])}"
    if country == "EG":
        return f"{rng.randint(1, 99)} {rng.choice(['Tahrir', 'Gameat El Dowal', 'Abbas El Akkad', 'Corniche'])} Street"
    return f"{rng.randint(1, 400)} {rng.choice(['MG', 'Gandhi', 'Nehru', 'Anna Salai'])} {rng.choice(['Road', 'Marg', 'Nagar'])}"


def age(low: int = 18, high: int = 89) -> int:
    return rng.randint(low, high)


def sex() -> str:
    return rng.choice(["M", "F"])


# A template: (countries, kinds, function(country) -> text). Label 1 when kinds is non-empty.
Template = tuple[tuple[str, ...], tuple[str, ...], object]

POSITIVE: list[Template] = [
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"{rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} in bed {rng.randint(1, 30)} is spiking again, {age()}{sex()}, can someone review?"
        ),
    ),
    (
        COUNTRIES,
        ("name", "date"),
        lambda c: f"{rng.choice(NAMES[c])}, DOB {dob()}, came in with chest pain, trop pending",
    ),
    (
        COUNTRIES,
        ("record_number",),
        lambda c: f"can someone chase the CT for MRN {mrn()}? been waiting since 9",
    ),
    (
        ("UK",),
        ("nhs_number",),
        lambda c: f"NHS number {nhs_number()} - bloods haven't come back, anyone know why?",
    ),
    (
        ("UK",),
        ("nhs_number", "name"),
        lambda c: f"{rng.choice(NAMES[c])} ({nhs_number()}) needs a repeat K+, it was 6.1",
    ),
    (COUNTRIES, ("phone",), lambda c: f"daughter asked to be called on {phone(c)} before the family meeting"),
    (
        COUNTRIES,
        ("email",),
        lambda c: (
            f"send the discharge summary to {rng.choice(SURNAMES[c]).lower().replace(chr(39), '')}.family@example.com pls"
        ),
    ),
    (COUNTRIES, ("address",), lambda c: f"home visit today, she lives at {address(c)}, 2nd floor, no lift"),
    (
        COUNTRIES,
        ("age_over_89",),
        lambda c: (
            f"{age(90, 104)} yo {rng.choice(['lady', 'man', 'gentleman'])} with a NOF, anaesthetics worried about the frailty"
        ),
    ),
    (
        COUNTRIES,
        ("photo",),
        lambda c: (
            f"posted {rng.choice(SURNAMES[c]).lower().replace(chr(39), '')}_{rng.choice(['wound', 'ecg', 'cxr', 'rash'])}.jpg for the teaching set"
        ),
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: f"pt {rng.choice(NAMES[c])} refusing the NG tube, capacity assessment needed",
    ),
    (
        COUNTRIES,
        ("name", "date"),
        lambda c: (
            f"{rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} admitted on {recent_date()} with DKA, pH 7.1, now on VRIII"
        ),
    ),
    (("US",), ("ssn",), lambda c: f"billing needs the SSN {ssn()} for the prior auth, who has it?"),
    (
        ("US",),
        ("insurance_number",),
        lambda c: f"his Medicare ID is {mbi()}, pharmacy won't release the apixaban without it",
    ),
    (
        ("IN",),
        ("insurance_number",),
        lambda c: (
            f"Ayushman card no {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} not linking, can billing check"
        ),
    ),
    (
        COUNTRIES,
        ("name", "phone"),
        lambda c: f"{rng.choice(NAMES[c])}'s son is on {phone(c)}, update him after rounds",
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"{rng.choice(NAMES[c])}, {age()} {rng.choice(['year old', 'yo', 'y/o'])}, known CKD 4, creat 389, K 5.9 - dialysis?"
        ),
    ),
    (
        COUNTRIES,
        ("record_number", "name"),
        lambda c: f"bed {rng.randint(1, 40)}: {rng.choice(NAMES[c])}, hospital number {mrn()}, for TTE today",
    ),
    (
        COUNTRIES,
        ("date",),
        lambda c: f"born {dob()}, so she's just under the cutoff for the screening programme",
    ),
    (
        COUNTRIES,
        ("age_over_89", "name"),
        lambda c: (
            f"{rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} is {age(90, 101)} years old and still lives alone, OT assessment?"
        ),
    ),
    (COUNTRIES, ("phone",), lambda c: f"GP surgery number is {phone(c)} if you need the old ECGs"),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"just saw {rng.choice(NAMES[c])} in cubicle {rng.randint(1, 20)}, pupils sluggish, calling neuro"
        ),
    ),
    (
        ("IN",),
        ("record_number", "name"),
        lambda c: f"UHID {rng.randint(10**9, 10**10 - 1)} {rng.choice(NAMES[c])} shifted to MICU, on NIV",
    ),
    (
        ("EG",),
        ("insurance_number",),
        lambda c: (
            f"national ID {rng.choice([2, 3])}{rng.randint(50, 99)}0{rng.randint(1, 9)}1{rng.randint(1, 9)}01{rng.randint(10000, 99999)} needed for the insurance approval"
        ),
    ),
    (
        COUNTRIES,
        ("name", "age_over_89"),
        lambda c: f"{rng.choice(NAMES[c])} {age(90, 99)}F, fall at home, long lie, CK 12000",
    ),
    (
        COUNTRIES,
        ("photo", "name"),
        lambda c: (
            f"IMG_{rng.randint(1000, 9999)}_{rng.choice(SURNAMES[c]).replace(chr(39), '')}.jpeg - is this cellulitis or DVT?"
        ),
    ),
    (
        COUNTRIES,
        ("email", "name"),
        lambda c: (
            f"{rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} wants the letters emailed to {rng.choice(['pt', 'home', 'fam'])}{rng.randint(10, 99)}@mail.example.org"
        ),
    ),
    (
        COUNTRIES,
        ("address", "name"),
        lambda c: f"{rng.choice(NAMES[c])} from {address(c)} re-attended, 3rd time this month",
    ),
    (
        COUNTRIES,
        ("date", "name"),
        lambda c: f"{rng.choice(NAMES[c])} (d.o.b. {dob()}) is the one with the LBBB, not the other guy",
    ),
    (
        ("UK",),
        ("address",),
        lambda c: (
            f"ambulance going to postcode {rng.choice(['M14 5', 'LS2 9', 'B15 2', 'SW1A 2', 'NE1 4'])}{rng.choice(['AB', 'JT', 'QH', 'NP'])}, unresponsive pt"
        ),
    ),
    (
        ("US",),
        ("address",),
        lambda c: f"transfer from the nursing home in Dayton, OH {rng.randint(45401, 45499)}, pt is DNR",
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"anyone covering {rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} tonight? {age()}{sex()} on a heparin infusion, APTT 110"
        ),
    ),
    (COUNTRIES, ("record_number",), lambda c: f"pt ID {mrn()} - wrong blood in tube, sample rejected"),
    (
        ("US",),
        ("ssn", "name"),
        lambda c: f"{rng.choice(NAMES[c])} social security number {ssn()}, registration typed it wrong",
    ),
    (
        COUNTRIES,
        ("phone", "name"),
        lambda c: (
            f"{rng.choice(TITLES[c])} {rng.choice(SURNAMES[c])} keeps calling the ward from {phone(c)}, can the reg speak to her"
        ),
    ),
    (COUNTRIES, ("age_over_89",), lambda c: f"aged {age(90, 103)}, on 11 meds, deprescribing round tomorrow"),
    (
        COUNTRIES,
        ("name", "date"),
        lambda c: f"{rng.choice(NAMES[c])} discharged on {recent_date()}, came back with the same AKI",
    ),
    (
        ("IN",),
        ("name",),
        lambda c: (
            f"Baby of {rng.choice(NAMES[c]).split()[0]} in NICU warmer {rng.randint(1, 12)}, bili 18, phototherapy started"
        ),
    ),
    (
        ("EG",),
        ("name",),
        lambda c: (
            f"Hagga {rng.choice(NAMES[c]).split()[0]} in the female ward bed {rng.randint(1, 30)} is hypoglycaemic again, glucose 45"
        ),
    ),
    (
        COUNTRIES,
        ("name", "record_number"),
        lambda c: f"patient name: {rng.choice(NAMES[c])}, file no {mrn()}, needs consent for OGD",
    ),
    (
        COUNTRIES,
        ("photo",),
        lambda c: (
            f"uploaded {rng.choice(NAMES[c]).replace(' ', '_').replace(chr(39), '')}_xray.png, look at the left apex"
        ),
    ),
    (
        ("UK",),
        ("nhs_number",),
        lambda c: f"can't find the referral, nhs no {nhs_number()}, was sent last Tues",
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"{rng.choice(NAMES[c])} is a {age()}-year-old {rng.choice(['man', 'woman'])} with new AF, CHA2DS2-VASc 3"
        ),
    ),
    (
        ("US", "UK"),
        ("name", "phone"),
        lambda c: (
            f"the wife of the pt in bed {rng.randint(1, 30)}, {rng.choice(NAMES[c])}, wants a call back on {phone(c)}"
        ),
    ),
    (COUNTRIES, ("date", "record_number"), lambda c: f"MRN {mrn()} DOB {dob()} - ortho say it's not theirs"),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"spoke to {rng.choice(TITLES[c])} {rng.choice(NAMES[c])}'s family, they want full escalation, he is {age()}"
        ),
    ),
    (
        COUNTRIES,
        ("photo",),
        lambda c: (
            f"caption on the photo: {rng.choice(SURNAMES[c]).replace(chr(39), '')}_day3_ulcer.heic - healing?"
        ),
    ),
    (
        COUNTRIES,
        ("age_over_89", "date"),
        lambda c: f"{age(90, 99)}M admitted {recent_date()} with urosepsis, lactate 3.2, on pip-taz",
    ),
    (
        COUNTRIES,
        ("email",),
        lambda c: (
            f"patient wants results sent to {rng.choice(['r.k', 'sam', 'mm', 'lj'])}{rng.randint(1950, 2005)}@example.net, is that allowed?"
        ),
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: f"{rng.choice(NAMES[c])}, {age()}{sex()}, bay {rng.choice('ABCD')}, NEWS 7, outreach aware",
    ),
    (
        ("IN",),
        ("name", "record_number"),
        lambda c: (
            f"Shri {rng.choice(NAMES[c])} IP no {rng.randint(10000, 999999)} post-CABG day 2, drain 300 ml"
        ),
    ),
    (
        ("EG",),
        ("name", "phone"),
        lambda c: f"{rng.choice(NAMES[c])}'s brother gave {phone(c)} as the contact, nobody answers",
    ),
    (
        COUNTRIES,
        ("record_number",),
        lambda c: f"medical record number {mrn()} has two allergy entries that contradict",
    ),
    (
        COUNTRIES,
        ("name",),
        lambda c: (
            f"Mrs {rng.choice(SURNAMES[c])} on ward {rng.randint(1, 30)} has had no bowel movement in 6 days, laxatives?"
        ),
    ),
    (
        COUNTRIES,
        ("name", "age_over_89"),
        lambda c: f"patient {rng.choice(NAMES[c])}, aged {age(90, 100)}, wants to go home against advice",
    ),
    (
        ("US",),
        ("insurance_number", "name"),
        lambda c: (
            f"{rng.choice(NAMES[c])} insurance member ID {rng.choice(['XJH', 'BCB', 'UHC'])}{rng.randint(100000000, 999999999)} denied the MRI"
        ),
    ),
]

NEGATIVE: list[Template] = [
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{age()}{sex()} with HbA1c {rng.randint(60, 120) / 10}%, on metformin {rng.choice([500, 850, 1000])} mg BD, add an SGLT2?"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"BP {rng.randint(130, 190)}/{rng.randint(70, 110)}, HR {rng.randint(50, 130)}, SpO2 {rng.randint(88, 99)}% on {rng.randint(1, 6)}L - sepsis six started"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"has anyone read NCT0{rng.randint(1000000, 9999999)}? the primary endpoint changed halfway"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"good review: doi 10.{rng.randint(1000, 9999)}/{rng.choice(['NEJMoa', 'S0140-6736', 'bmj.'])}{rng.randint(1000000, 9999999)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: f"PMID {rng.randint(20000000, 39999999)} is the meta-analysis people keep quoting",
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"our hospital has {rng.randint(200, 1500)} beds and only {rng.randint(8, 40)} ICU beds, winter will be rough"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"the {rng.choice(['NICE', 'ESC', 'AHA/ACC', 'KDIGO', 'GOLD'])} {rng.randint(2012, 2025)} guideline says start treatment above {rng.randint(130, 160)}/{rng.randint(80, 100)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"K {rng.randint(30, 65) / 10}, Na {rng.randint(120, 150)}, urea {rng.randint(30, 400) / 10}, creat {rng.randint(50, 600)} - AKI stage {rng.randint(1, 3)}?"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"gentamicin {rng.randint(3, 7)} mg/kg once daily, level at {rng.randint(6, 14)}h was {rng.randint(1, 30) / 10}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.choice(DOCTORS[c])} is giving grand rounds on {recent_date()} about the {rng.choice(['RECOVERY', 'DAPA-HF', 'SPRINT', 'EMPA-KIDNEY'])} trial"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"INR {rng.randint(10, 60) / 10} on warfarin {rng.randint(1, 10)} mg, hold tonight's dose and recheck in 48h"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"in the trial, {rng.randint(40, 90)}% of patients aged over 80 had a bleed by 12 months (n={rng.randint(200, 20000)})"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{age()} year old with pleuritic chest pain, Wells {rng.randint(0, 7)}, D-dimer {rng.randint(200, 4000)} - CTPA?"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"rota for {rng.choice(['Aug', 'Sept', 'Oct'])} is out, I'm on nights {rng.randint(1, 20)}-{rng.randint(21, 28)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"troponin {rng.randint(5, 5000)} ng/L, repeat at 3h was {rng.randint(5, 5000)}, ECG shows ST depression V4-V6"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"paracetamol {rng.choice([500, 1000])} mg QDS max {rng.choice([3, 4])} g/day, reduce if under {rng.randint(40, 50)} kg"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"waiting times: {rng.randint(2, 14)} hours in ED, {rng.randint(20, 90)} patients in the department, {rng.randint(5, 30)} waiting for beds"
        ),
    ),
    (COUNTRIES, (), lambda c: f"exam results out on {recent_date()}, pass mark was {rng.randint(55, 75)}%"),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"vanc trough {rng.randint(5, 25)}, target 15-20, increase to {rng.choice([750, 1000, 1250, 1500])} mg BD?"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"ABG: pH {rng.randint(700, 745) / 100}, pCO2 {rng.randint(30, 90) / 10}, HCO3 {rng.randint(10, 30)}, BE -{rng.randint(1, 15)}, lactate {rng.randint(10, 80) / 10}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.choice(['Mr', 'Dr'])} {rng.choice(['Patel', 'Walsh', 'Okafor', 'Rao'])}'s lecture on hernia repair was great, slides on the drive"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"stats q: HR {rng.randint(50, 95) / 100} (95% CI {rng.randint(40, 60) / 100}-{rng.randint(80, 99) / 100}), p={rng.randint(1, 49) / 1000}, NNT {rng.randint(10, 120)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"the {rng.randint(2015, 2024)} audit covered {rng.randint(1000, 90000)} admissions across {rng.randint(10, 200)} trusts"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"eGFR {rng.randint(10, 90)}, ACR {rng.randint(3, 300)}, start dapagliflozin 10 mg OD per KDIGO 2024"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"ward {rng.randint(1, 40)} has {rng.randint(1, 6)} nurses for {rng.randint(20, 36)} beds tonight, escalated to the site manager"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"platelets {rng.randint(10, 600)}, Hb {rng.randint(60, 160)} g/L, WCC {rng.randint(10, 300) / 10}, CRP {rng.randint(1, 350)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"ISRCTN{rng.randint(10000000, 99999999)} is recruiting, {rng.randint(100, 2000)} participants needed by {rng.randint(2026, 2029)}"
        ),
    ),
    (
        ("IN",),
        (),
        lambda c: (
            f"CTRI/{rng.randint(2018, 2025)}/{rng.randint(1, 12):02d}/0{rng.randint(10000, 99999)} registered, ethics approval pending"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"anyone going to the conference on {recent_date()}? early bird ends soon, £{rng.randint(150, 600)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.randint(18, 89)} yo with syncope, QTc {rng.randint(380, 560)} ms, on citalopram {rng.choice([10, 20, 40])} mg"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"bleep {rng.randint(1000, 9999)} for the on-call reg, ext {rng.randint(2000, 8999)} for micro"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"ferritin {rng.randint(5, 2000)}, TSAT {rng.randint(5, 60)}%, IV iron {rng.choice([500, 1000])} mg over 15 min"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.randint(90, 99)}% of the time the guideline is fine; the other {rng.randint(1, 10)}% is where we earn our salary"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"GCS {rng.randint(3, 15)}, pupils {rng.randint(2, 6)} mm reactive, CT head at {rng.randint(10, 23)}:{rng.randint(10, 59)} showed a {rng.randint(3, 20)} mm SDH"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"insulin {rng.randint(4, 40)} units glargine at night plus {rng.randint(2, 12)} units aspart with meals, glucose {rng.randint(40, 250) / 10}"
        ),
    ),
    (
        ("US",),
        (),
        lambda c: (
            f"USMLE Step 2 scores: median {rng.randint(240, 255)}, our program interviews above {rng.randint(225, 245)}"
        ),
    ),
    (
        ("UK",),
        (),
        lambda c: (
            f"FY{rng.randint(1, 2)} rota gaps: {rng.randint(2, 9)} on nights, {rng.randint(1, 5)} on weekends, BMA says 48h average"
        ),
    ),
    (
        ("EG",),
        (),
        lambda c: (
            f"Kasr Al Ainy ICU had {rng.randint(20, 90)} admissions this week, {rng.randint(5, 30)} ventilated"
        ),
    ),
    (
        ("IN",),
        (),
        lambda c: (
            f"AIIMS cut-off this year was {rng.randint(80, 99)} percentile, {rng.randint(1000, 9000)} seats"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"posted the {rng.choice(['ecg', 'cxr', 'abg', 'forest_plot'])}_{rng.choice(['lead_ii', 'pa_view', 'example', 'fig2'])}.png from the teaching set"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"the {rng.randint(30, 89)} year old in my clinic today had the same presentation as in the NEJM case"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"MAP {rng.randint(50, 90)}, noradrenaline {rng.randint(1, 40) / 100} mcg/kg/min, lactate clearing {rng.randint(10, 50)}%"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"version {rng.randint(2, 9)}.{rng.randint(0, 9)} of the sepsis pathway uses a NEWS2 of {rng.randint(5, 7)} as the trigger"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"CD4 {rng.randint(50, 1200)}, viral load {rng.randint(20, 900000)} copies/ml, starting {rng.choice(['TLD', 'Biktarvy', 'Dovato'])}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"the registry has {rng.randint(1000000, 9000000)} patient-years of follow-up, mortality {rng.randint(1, 30) / 10}% per year"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"anyone else find the {rng.randint(2019, 2025)} sepsis guidance confusing on fluids: {rng.randint(20, 30)} ml/kg bolus or {rng.randint(250, 500)} ml?"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"survey: {rng.randint(100, 900)} of {rng.randint(1000, 2000)} respondents ({rng.randint(10, 60)}%) reported burnout"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"her sats dropped to {rng.randint(80, 90)}% on {rng.randint(2, 15)} L, moved to HDU bed {rng.randint(1, 12)}, ABG pending"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"he is {rng.randint(20, 89)} with a BMI of {rng.randint(180, 450) / 10}, started semaglutide {rng.choice([0.25, 0.5, 1])} mg weekly"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"see page {rng.randint(10, 400)}, table {rng.randint(1, 9)}, of the {rng.randint(2018, 2025)} BNF for the renal dosing"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.choice(DOCTORS[c])} said the MDT is moved to {rng.randint(8, 17)}:{rng.choice(['00', '30'])} on Thursday"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"pt in bay {rng.randint(1, 6)} improving, weaned to {rng.randint(1, 4)} L, CRP down from {rng.randint(150, 300)} to {rng.randint(20, 149)}"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"NNT for statins in primary prevention is about {rng.randint(40, 150)} over {rng.randint(3, 10)} years"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"clinic code {rng.randint(100, 999)}, room {rng.randint(1, 30)}, starts {rng.randint(8, 14)}:00 - bring your ID badge"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"{rng.randint(60, 89)}F, frail, CFS {rng.randint(5, 8)}, family want ceiling of care discussed"
        ),
    ),
    (
        COUNTRIES,
        (),
        lambda c: (
            f"lithium level {rng.randint(4, 20) / 10} mmol/L, TSH {rng.randint(1, 150) / 10}, creat {rng.randint(60, 200)}"
        ),
    ),
]


def main() -> None:
    rows = []
    for label, templates, per_template in ((1, POSITIVE, 3), (0, NEGATIVE, 3)):
        for index, (countries, kinds, make) in enumerate(templates):
            split = "tune"
            for n in range(per_template):
                country = countries[n % len(countries)]
                text = make(country)  # type: ignore[operator]
                rows.append(
                    {
                        "text": text,
                        "label": label,
                        "kinds": sorted(kinds),
                        "country": country,
                        "template": f"{'p' if label else 'n'}{index:02d}",
                        "split": split,
                    }
                )
    for index, (country, kinds, text) in enumerate(HOLDOUT):
        rows.append(
            {
                "text": text,
                "label": int(bool(kinds)),
                "kinds": sorted(kinds),
                "country": country,
                "template": f"h{index:03d}",
                "split": "holdout",
            }
        )
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} messages, {sum(r['label'] for r in rows)} with identifiers -> {OUT}")


if __name__ == "__main__":
    main()
