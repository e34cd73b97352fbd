"""Finding patient identifiers in a chat message, fast enough to run on every new or edited post.

Clinical chat is full of numbers that identify nobody (doses, lab values, trial ids, blood
pressures, bed counts), so a bare number is never enough: each kind needs either its own
structure (an NHS number's check digit, an SSN's layout, an e-mail's `@`, a valid phone number
per `phonenumbers`) or a word that ties it to a patient (DOB, MRN, "pt", a bed, an age and sex).
The detector is pure (no store, no I/O, no model) and returns the kinds found with their spans,
so callers can both decide and mask.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

import phonenumbers

Kind = Literal[
    "name",
    "date",
    "record_number",
    "nhs_number",
    "insurance_number",
    "ssn",
    "phone",
    "email",
    "address",
    "age_over_89",
    "photo",
]
KINDS: Final[tuple[Kind, ...]] = typing.get_args(Kind)

PHONE_REGIONS: Final = ("US", "GB", "EG", "IN")
"""The regions whose national phone formats are recognised without a leading +."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One identifier: what kind it is and where it sits in the text (for masking)."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Scan:
    """The detector's answer for one message."""

    findings: tuple[Finding, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The kinds found, once each, in the detector's fixed order."""
        present = {finding.kind for finding in self.findings}
        return tuple(kind for kind in KINDS if kind in present)


CLEAN: Final = Scan(())


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- building blocks -------------------------------------------------------------------------

_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*"
_NAME = rf"{_NAME_WORD}(?:\s+(?:(?:bin|bint|el|al|abdel|abd|van|de|da|di|le)[- ])?{_NAME_WORD}){{0,2}}"
_TITLE = (
    r"(?:Mr|Mrs|Ms|Miss|Mx|Master|Mstr|Smt|Shri|Sri|Shrimati|Kumari|Km|Hagg|Hagga|Haj|Hajj|Hajja|"
    r"Hajjah|Sayyida|Sayeda|Ustaz|Madam|Mme|Baby(?:\s+of)?|B/o)"
)
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:19|20)?\d{2}"
    r"|(?:19|20)\d{2}[/.\-]\d{1,2}[/.\-]\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+(?:19|20)?\d{{2}}"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b)"
)
_AGE_SEX = (
    r"\d{1,3}\s?(?:yo\b|y/o\b|y\.o\.?|yrs?\b|years?(?:[- ]old)?\b|-year-old\b|yr[- ]old\b|[MF]\b)"
    r"|\b(?:male|female|man|woman|boy|girl|gentleman|lady)\b"
)

_NOT_NAMES: Final = _wordset(
    """
    I A An The This That These Those He She His Her They Their We Our You Your It Its On In At To For
    Of With From By As Is Was Has Had Have Be Been Are Were Not No Yes And Or But If So Then Also
    Any All Some One Two Three New Old Hi Hey Thanks Thank Please Anyone Does Did Do Can Could Should
    Would Will What Who How Why When Where Which Today Yesterday Tomorrow Tonight Morning Evening
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
    July August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    Presented Presenting Presents Admitted Discharged Reviewed Seen Started Stopped Given Had Needs
    Needed Came Comes Known Is Was Has With Without After Before During Post Pre Here There Now
    Education Information Safety Care Group Groups Day Night Week Month Year Doctor Nurse Team
    Hospital Clinic Ward Bed Bay Unit Department Medical Medicine Surgery Surgical Emergency General
    Consultant Registrar Resident Fellow Intern Dr Prof Professor Sister Matron Charge
    Covid Diabetes Cancer Sepsis Heart Stroke Type Level Grade Stage Class Score Scale
    Patient Patients Case Cases Study Trial Guideline Guidelines Protocol Protocols Update Question
    Male Female Man Woman Boy Girl Gentleman Lady Mild Moderate Severe Acute Chronic Likely Possible
    Still Just Only Very Really Quite Much More Less Most Least Good Bad Better Worse Same Similar
    Left Right Upper Lower Anterior Posterior Normal Abnormal Positive Negative High Low
    """
)
"""Capitalised words that follow "pt" or start a sentence but are not names."""

_PHONE_WORDS = re.compile(
    r"\b(?:call|ring|phone|tel|telephone|mob|mobile|cell|contact|number|no\.?|whatsapp|reach|text|"
    r"landline|ext|bleep|fax)\b",
    re.IGNORECASE,
)

_WORD = re.compile(r"[a-z]+")
_ANCHOR_WORDS: Final = _wordset(
    """
    pt pts patient patients pat mr mrs ms miss mx master mstr smt shri sri shrimati kumari km hagg hagga haj
    hajj hajja hajjah sayyida sayeda ustaz madam mme baby b name named names called surname dob d o b
    birth born birthday admitted admission adm doa discharged discharge dod death died passed deceased
    mrn record hospital hosp uhid cr ip op registration reg file case chart unit chi rxr nhs ssn social
    medicare medicaid mbi insurance insurer policy member subscriber aadhaar aadhar pmjay ayushman abha
    national raqam nid card tpa esic cghs ins address lives living resides residing home house pin postal zip
    postcode street st road rd avenue ave lane ln drive close way boulevard blvd crescent place pl court
    ct terrace gardens grove square sq highway hwy parkway marg nagar colony sharia gate mews row hill
    male female man woman boy girl gentleman lady bed bay ward room cubicle side cabin son daughter wife
    husband brother sister mother father mum mom dad family relatives carer partner attendant niece
    nephew grandson granddaughter yo yrs yr year years old aged age turned turning
    jpg jpeg png heic gif bmp tif tiff dcm webp
    """
)
"""Words of which one must appear for any kind except bare numbers and e-mails to be possible."""
_DIGIT_RUN = re.compile(r"\d[\d\s\-().]{7,}")
_SHORT_CODES = re.compile(r"\d ?[MF]\b|\d[A-Z][A-Z0-9]\d-?[A-Z]")
"""`67M` (an age and sex, which a name may stand next to) or the start of a Medicare MBI."""


def _long_number(text: str) -> bool:
    """Eight digits close together: what a phone, NHS, SSN or ID number needs (a character-class
    run, then a count, is many times cheaper than one regex that counts digits)."""
    return any(sum(c.isdigit() for c in m.group()) >= 8 for m in _DIGIT_RUN.finditer(text))


# --- the patterns, one per way an identifier shows ---------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")

_TITLED_NAME = re.compile(rf"\b{_TITLE}\.?\s+(?P<name>{_NAME})")
_TIED_NAME = re.compile(
    rf"\b(?i:pt|pt\.|patient|pat|patient's\s+name|name|named|called|known\s+as|surname|"
    rf"first\s+name)\s*(?:is|was|:|-|=|,)?\s*(?P<name>{_NAME})"
)
_NAME_AGE = re.compile(rf"(?P<name>{_NAME})\s*(?:,|\(|-|–|—|is|was|is\s+a|was\s+a|a)?\s*(?:{_AGE_SEX})")
_NAME_PLACE = re.compile(
    rf"(?P<name>{_NAME})\s*(?:,|-|–|\(|in|on|at|from)?\s*(?i:bed|bay|ward|room|cubicle|side\s?room|"
    rf"cabin|icu\s+bed|hdu\s+bed)\s*[A-Z0-9]"
)
_FAMILY_NAME = re.compile(
    rf"(?P<name>{_NAME})'s\s+(?i:son|daughter|wife|husband|brother|sister|mother|father|mum|mom|dad|"
    rf"family|relatives|carer|partner|attendant|niece|nephew|grandson|granddaughter)\b"
)
_PARTICLE = r"(?:(?:bin|bint|el|al|abdel|abd|van|de|da|di|le)[- ])"
_FULL_NAME = re.compile(rf"(?<!\w)(?P<name>{_NAME_WORD}(?:\s+{_PARTICLE}?{_NAME_WORD}){{1,2}})")
_DOCTOR_BEFORE = re.compile(r"(?:\b(?:Dr|Prof|Professor|Doctor|Nurse|Sister|Consultant)\.?\s*)$")
_PLACE_NAME = re.compile(
    rf"\b(?i:bed|bay|room|cubicle|cabin)\s*[A-Z]?\d+[A-Z]?\s*(?:,|:|-|–|is|=)?\s*(?P<name>{_NAME})"
)

_TIED_DATE = re.compile(
    rf"\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|born(?:\s+on|\s+in)?|birthday|b\.|admitted(?:\s+on)?|"
    rf"admission(?:\s+date)?|date\s+of\s+admission|doa|adm|discharged(?:\s+on)?|discharge\s+date|"
    rf"dod|date\s+of\s+death|died(?:\s+on)?|passed\s+away(?:\s+on)?|deceased)\s*(?:date)?\s*"
    rf"(?:[:=\-–,]|is|was|on)?\s*(?P<date>{_DATE}|(?:19|20)\d{{2}}\b)",
    re.IGNORECASE,
)

_RECORD = re.compile(
    r"\b(?:mrn|m\.r\.n\.?|medical\s+record(?:\s+(?:no\.?|number|#))?|record\s+(?:no\.?|number|#)|"
    r"hospital\s+(?:no\.?|number|id|#)|hosp\s+no\.?|uhid|cr\s+(?:no\.?|number)|ip\s+(?:no\.?|number)|"
    r"op\s+(?:no\.?|number)|registration\s+(?:no\.?|number)|reg\s+no\.?|file\s+(?:no\.?|number)|"
    r"case\s+(?:no\.?|number)|chart\s+(?:no\.?|number|#)|patient\s+(?:id|no\.?|number|#)|"
    r"pt\s+(?:id|no\.?|#)|unit\s+no\.?|k\s+number|rxr|chi(?:\s+(?:no\.?|number))?)\s*(?:is|:|#|=|-)?\s*"
    r"(?P<value>[A-Z]{0,4}[-/]?\d[\d\-/ ]{3,18}\d[A-Z]?)",
    re.IGNORECASE,
)
_NHS_KEYWORD = re.compile(
    r"\bnhs\s*(?:no\.?|number|num|#)?\s*(?:is|:|=|-)?\s*(?P<value>\d{3}[ -]?\d{3}[ -]?\d{4})\b",
    re.IGNORECASE,
)
_TEN_DIGITS = re.compile(r"(?<![\d./])(?P<value>\d{3}[ -]?\d{3}[ -]?\d{4})(?![\d/]|\.\d)")
_SSN = re.compile(r"(?<![\d\-])(?P<value>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\d\-])")
_SSN_KEYWORD = re.compile(
    r"\b(?:ssn|social\s+security(?:\s+(?:no\.?|number|#))?)\s*(?:is|:|#|=|-)?\s*"
    r"(?P<value>\d{3}[ -]?\d{2}[ -]?\d{4})\b",
    re.IGNORECASE,
)
_INSURANCE = re.compile(
    r"\b(?:medicare|medicaid|mbi|insurance|insurer|policy|member\s+id|subscriber\s+id|aadhaar|aadhar|"
    r"pmjay|ayushman(?:\s+bharat)?|abha|national\s+id|national\s+number|raqam\s+qawmi|nid|"
    r"health\s+card|tpa\s+id|esic|cghs|ins)\s*(?:card|no\.?|number|num|#|id)?\s*(?:is|:|#|=|-)?\s*"
    r"(?P<value>(?=[A-Z0-9\- ]*\d)[A-Z0-9][A-Z0-9\-]{3,}(?:[ -][A-Z0-9]{2,}){0,3})",
    re.IGNORECASE,
)
_MBI = re.compile(
    r"\b(?P<value>[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2})\b"
)
_EGYPT_ID = re.compile(
    r"(?<!\d)(?P<value>[23]\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:0[1-4]|1[1-9]|2[1-9]|3[1-5]|88)\d{5})(?!\d)"
)
_AADHAAR = re.compile(r"(?<![\d.])(?P<value>[2-9]\d{3}[ -]\d{4}[ -]\d{4})(?![\d.])")

_STREET = re.compile(
    r"\b(?P<value>\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'\-]+\s+){1,3}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Close|Way|Boulevard|Blvd|Crescent|Place|Pl|Court|Ct|"
    r"Terrace|Gardens|Grove|Square|Sq|Highway|Hwy|Parkway|Marg|Nagar|Colony|Sharia|Shari'a|Gate|Mews|Row|Hill)\b\.?)"
)
_LIVES_AT = re.compile(
    r"\b(?:lives\s+(?:at|on|in)|living\s+at|address\s*(?:is|:|-)?|resides\s+at|residing\s+at|"
    r"home\s+at|house\s+(?:no\.?|number))\s*(?P<value>(?:flat|apt|apartment|house|h\.?\s?no\.?|plot|#)?\s*"
    r"\d+[A-Za-z]?(?:[/,\-]\s*\d+[A-Za-z]?)*,?\s+[A-Z][A-Za-z'\-]+(?:\s+[A-Za-z'\-]+){0,4})",
    re.IGNORECASE,
)
_POSTCODE = re.compile(r"\b(?P<value>(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s+\d[ABD-HJLNP-UW-Z]{2})\b")
_ZIP_STATE = re.compile(
    r"\b(?P<value>(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    r"NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC),?\s+\d{5}(?:-\d{4})?)\b"
)
_PIN = re.compile(
    r"\b(?:pin|pin\s*code|pincode|postal\s+code|zip(?:\s*code)?)\s*[:\-]?\s*(?P<value>\d{5,6})\b",
    re.IGNORECASE,
)

_OLD_AGE = re.compile(
    r"(?<![\d.])(?P<value>(?:9\d|1[0-1]\d)\s?(?:yo\b|y/o\b|y\.o\.?|yrs?\b|years?[- ]old\b|"
    r"years?\s+of\s+age\b|-year-old\b|yr[- ]old\b|[MF]\b|-?(?:year|yr)-old)"
    r"|\b(?:aged|age|ageing|turned|turning)\s*:?\s*(?:9\d|1[0-1]\d)\b"
    r"(?!\s*(?:%|mg|ml|mmol|minutes|min|mins|days|hours)))",
    re.IGNORECASE,
)

_IMAGE_FILE = re.compile(
    r"(?P<value>\b[\w\-. ]{1,80}?\.(?:jpe?g|png|heic|gif|bmp|tiff?|dcm|webp))\b", re.IGNORECASE
)
_GENERIC_FILE_WORDS: Final = _wordset(
    """
    img image images pic pics picture photo photos screenshot screen shot scan scans snap capture
    dsc dscn dcim pxl whatsapp signal telegram wa fig figure slide slides chart graph plot table
    ecg ekg cxr xray x ray ct mri us usg echo ctpa cta mra pet dexa abg vbg eeg emg ncs fundus oct
    ultrasound film films radiograph lateral ap pa axial coronal sagittal view views lead leads rhythm
    strip strips monitor trace tracing before after pre post day week wk op postop preop followup
    wound rash lesion ulcer skin derm dermoscopy burn burns laceration swelling bruise bruising
    fracture wrist hand hip knee ankle foot chest abdo abdomen head brain spine neck pelvis shoulder
    elbow leg arm eye eyes ear throat mouth tongue teeth nail nails scalp face back lung lungs heart
    left right bilateral unilateral anon anonymised anonymized redacted deidentified blurred cropped
    case cases teaching example sample test demo final draft copy new old edit edited v1 v2 v3
    guideline guidelines nice aha esc who flowchart algorithm protocol pathway poster handout
    forest funnel kaplan meier km curve results table1 abstract infographic meme lol cat dog
    stemi nstemi af afib svt vt vf bbb lbbb rbbb qt wpw pe dvt mi acs chf hf copd aki ckd dka sepsis
    pneumonia pneumothorax effusion consolidation mass nodule normal abnormal findings report result
    smear film blood gram stain culture histo histology slide biopsy path pathology micro cells
    rota roster schedule timetable exam notes note osce mcq question answer quiz ward round handover
    and of the with on in at for my our a to from by
    """
)

_ALPHA_TOKEN = re.compile(r"[A-Za-z]+")


def detect(text: str) -> Scan:
    """Every identifier in `text`, with its kind and span; CLEAN when the cheap pre-check fails."""
    lower = text.lower()
    words = frozenset(_WORD.findall(lower))
    numbers = _long_number(text)
    codes = _SHORT_CODES.search(text) is not None
    anchored = not words.isdisjoint(_ANCHOR_WORDS)
    postcode = _POSTCODE.search(text) is not None
    if not (numbers or anchored or codes or postcode or "@" in text):
        return CLEAN
    found: list[Finding] = []
    found.extend(_emails(text))
    if not words.isdisjoint(_DATE_TRIGGERS):
        found.extend(_group(_TIED_DATE, text, "date", "date"))
    if not words.isdisjoint(_RECORD_TRIGGERS):
        found.extend(_group(_RECORD, text, "record_number"))
    if numbers or "nhs" in words:
        found.extend(_nhs_numbers(text, lower))
    if numbers or "ssn" in words or "social" in words:
        found.extend(_ssns(text, lower))
    if numbers or anchored or codes:
        found.extend(_insurance(text, words))
    found.extend(_addresses(text, lower, words, postcode))
    if _OLD_AGE_TRIGGER.search(text):
        found.extend(_group(_OLD_AGE, text, "age_over_89"))
    found.extend(_names(text, words, anchored=bool(found), aged=codes or not words.isdisjoint(_AGE_WORDS)))
    found.extend(_photos(text, words, found))
    if numbers:
        found.extend(_phones(text, found))
    return Scan(tuple(sorted(set(found), key=lambda f: (f.start, f.end, f.kind))))


_DATE_TRIGGERS: Final = _wordset(
    "dob d b birth born birthday adm admitted admission doa discharged discharge dod death died passed "
    "deceased"
)
_RECORD_TRIGGERS: Final = _wordset(
    "mrn m record hospital hosp uhid cr ip op registration reg file case chart patient pt unit k rxr chi"
)
_INSURANCE_TRIGGERS: Final = _wordset(
    "medicare medicaid mbi insurance insurer policy member subscriber aadhaar aadhar pmjay ayushman abha "
    "national raqam nid health tpa esic cghs ins"
)
_ADDRESS_TRIGGERS: Final = _wordset("lives living address resides residing home house pin postal zip pincode")
_OLD_AGE_TRIGGER = re.compile(r"(?<![\d.])(?:9\d|1[01]\d)(?![\d.])")
_LONG_NUMBER = re.compile(r"\d{4}[ -]?\d{4}[ -]?\d{4}|\d{14}")


def mask(text: str, scan: Scan) -> str:
    """The text with each identifier replaced by its kind in brackets, e.g. `[name]`."""
    pieces: list[str] = []
    position = 0
    for start, end, kind in _merged(scan.findings):
        if start < position:
            continue
        pieces.append(text[position:start])
        pieces.append(f"[{kind.replace('_', ' ')}]")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _merged(findings: Iterable[Finding]) -> Iterator[tuple[int, int, Kind]]:
    """Overlapping spans as one, named by the first (leftmost, then longest) finding."""
    current: list[int] | None = None
    kind: Kind = "name"
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if current is not None and finding.start < current[1]:
            current[1] = max(current[1], finding.end)
            continue
        if current is not None:
            yield current[0], current[1], kind
        current, kind = [finding.start, finding.end], finding.kind
    if current is not None:
        yield current[0], current[1], kind


def _group(pattern: re.Pattern[str], text: str, kind: Kind, group: str = "value") -> Iterator[Finding]:
    for match in pattern.finditer(text):
        yield Finding(kind, match.start(group), match.end(group))


def _emails(text: str) -> Iterator[Finding]:
    if "@" in text:
        for match in _EMAIL.finditer(text):
            yield Finding("email", match.start(), match.end())


def _name_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The part of a capitalised run that can be a name: stop-words trimmed from both ends."""
    words = [(m.start() + start, m.end() + start, m.group()) for m in re.finditer(r"\S+", text[start:end])]
    while words and (words[0][2].strip(",.'") in _NOT_NAMES or words[0][2].isupper()):
        words.pop(0)
    while words and (words[-1][2].strip(",.'") in _NOT_NAMES or words[-1][2].isupper()):
        words.pop()
    if not words:
        return None
    return words[0][0], words[-1][1]


def _names(text: str, words: frozenset[str], anchored: bool, aged: bool) -> Iterator[Finding]:
    """Names tied to a patient; `anchored`: another identifier is in the message, so a full name
    (two or more capitalised words, not a doctor's) is taken for the patient's."""
    patient_context = anchored or bool(words & _PATIENT_CONTEXT) or _AGE_SEX_TOKEN.search(text) is not None
    for match in _TITLED_NAME.finditer(text) if words & _TITLE_WORDS else ():
        title = match.group().split()[0].rstrip(".")
        strong = title not in ("Mr", "Mrs", "Ms", "Miss", "Mx", "Madam", "Mme")
        span = _name_span(text, match.start("name"), match.end("name"))
        if span is not None and (strong or patient_context):
            yield Finding("name", match.start(), span[1])
    patterns: list[re.Pattern[str]] = [_NAME_AGE] if aged else []
    if words & _TIED_WORDS:
        patterns.append(_TIED_NAME)
    if words & _PLACE_WORDS:
        patterns += (_NAME_PLACE, _PLACE_NAME)
    if "'s " in text:
        patterns.append(_FAMILY_NAME)
    if anchored:
        patterns.append(_FULL_NAME)
    for pattern in patterns:
        for match in pattern.finditer(text):
            span = _name_span(text, match.start("name"), match.end("name"))
            if span is None:
                continue
            if pattern is _TIED_NAME and not _tied_name_ok(text, span):
                continue
            if pattern is _NAME_AGE and not _looks_like_person(text, span):
                continue
            if pattern is _FULL_NAME and (
                len(text[span[0] : span[1]].split()) < 2 or _DOCTOR_BEFORE.search(text, 0, span[0])
            ):
                continue
            yield Finding("name", *span)


_PATIENT_CONTEXT: Final = _wordset(
    """
    pt pts patient patients pat bed bay ward room cubicle side sideroom admitted admission discharged dob
    mrn nhs uhid yo year years his her he she relative relatives family wife husband son daughter mother
    father
    """
)
_AGE_SEX_TOKEN = re.compile(r"\d{1,3}\s?[MF]\b|\d\s?y/o")
_TITLE_WORDS: Final = _wordset(
    "mr mrs ms miss mx master mstr smt shri sri shrimati kumari km hagg hagga haj hajj hajja hajjah sayyida "
    "sayeda ustaz madam mme baby b"
)
_TIED_WORDS: Final = _wordset("pt patient pat name named called known surname first")
_PLACE_WORDS: Final = _wordset("bed bay ward room cubicle side sideroom cabin icu hdu")


def _tied_name_ok(text: str, span: tuple[int, int]) -> bool:
    """`pt Smith` names a patient; `patient Education` and `named NICE` do not."""
    first = text[span[0] : span[1]].split()[0]
    return first not in _NOT_NAMES and len(first) > 1


def _looks_like_person(text: str, span: tuple[int, int]) -> bool:
    """A capitalised run before an age needs two words (or a title) to be taken for a name."""
    words = text[span[0] : span[1]].split()
    if len(words) >= 2:
        return True
    before = text[max(0, span[0] - 12) : span[0]].lower()
    return bool(re.search(r"\b(?:pt|patient|named|called|name\s*:?)\s*$", before))


def _nhs_valid(digits: str) -> bool:
    """The NHS number's modulus 11 check digit (a remainder of 10 means no valid number)."""
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs_numbers(text: str, lower: str) -> Iterator[Finding]:
    keyed = set()
    for match in _NHS_KEYWORD.finditer(text) if "nhs" in lower else ():
        keyed.add(match.start("value"))
        yield Finding("nhs_number", match.start("value"), match.end("value"))
    for match in _TEN_DIGITS.finditer(text):
        if match.start("value") in keyed:
            continue
        value = match.group("value")
        digits = re.sub(r"\D", "", value)
        spaced = value != digits
        if _nhs_valid(digits) and (not spaced or _is_nhs_layout(value)):
            near_phone_word = _PHONE_WORDS.search(text[max(0, match.start() - 30) : match.start()])
            if near_phone_word or ("-" in value and _valid_phone(value)):
                continue  # a ten-digit phone number that happens to pass the check
            yield Finding("nhs_number", match.start("value"), match.end("value"))


def _valid_phone(value: str) -> bool:
    return any(phonenumbers.is_valid_number(number) for number in _parsed(value))


def _possible_phone(value: str) -> bool:
    return any(phonenumbers.is_possible_number(number) for number in _parsed(value))


def _parsed(value: str) -> Iterator[phonenumbers.PhoneNumber]:
    """The number as each region would dial it: an international one once; a national one in the
    regions whose numbers start that way (UK, Egyptian and Indian landlines with their trunk 0, US
    and Indian mobiles without). Without that, any ten digits parse as some valid UK area code."""
    start = value.lstrip("( ")
    regions = (
        (None,) if start.startswith("+") else _TRUNK_ZERO_REGIONS if start.startswith("0") else ("US", "IN")
    )
    for region in regions:
        try:
            yield phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue


_TRUNK_ZERO_REGIONS: Final = ("GB", "EG", "IN")


def _is_nhs_layout(value: str) -> bool:
    return re.fullmatch(r"\d{3}([ -])\d{3}\1\d{4}", value) is not None


def _ssns(text: str, lower: str) -> Iterator[Finding]:
    if "ssn" in lower or "social" in lower:
        yield from _group(_SSN_KEYWORD, text, "ssn")
    if "-" in text:
        yield from _group(_SSN, text, "ssn")


def _insurance(text: str, words: frozenset[str]) -> Iterator[Finding]:
    for match in _INSURANCE.finditer(text) if not words.isdisjoint(_INSURANCE_TRIGGERS) else ():
        value = match.group("value")
        if sum(c.isdigit() for c in value) >= 4:
            yield Finding("insurance_number", match.start("value"), match.end("value"))
    yield from _group(_MBI, text, "insurance_number")
    if not _LONG_NUMBER.search(text):
        return
    yield from _group(_EGYPT_ID, text, "insurance_number")
    for match in _AADHAAR.finditer(text):
        if _verhoeff_valid(re.sub(r"\D", "", match.group("value"))):
            yield Finding("insurance_number", match.start("value"), match.end("value"))


_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def _verhoeff_valid(digits: str) -> bool:
    """Aadhaar numbers carry a Verhoeff check digit; twelve random digits rarely pass it."""
    check = 0
    for index, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][int(digit)]]
    return check == 0


_STREET_WORDS: Final = _wordset(
    """
    street st road rd avenue ave lane ln drive close way boulevard blvd crescent place pl court ct terrace
    gardens grove square sq highway hwy parkway marg nagar colony sharia gate mews row hill
    """
)
_AGE_WORDS: Final = _wordset("yo y o yrs yr year years old male female man woman boy girl gentleman lady")
_FIVE_DIGITS = re.compile(r"\d{5}")


def _addresses(text: str, lower: str, words: frozenset[str], postcode: bool) -> Iterator[Finding]:
    if not words.isdisjoint(_STREET_WORDS):
        yield from _group(_STREET, text, "address")
    if not words.isdisjoint(_ADDRESS_TRIGGERS):
        yield from _group(_LIVES_AT, text, "address")
        yield from _group(_PIN, text, "address")
    if postcode:
        yield from _group(_POSTCODE, text, "address")
    if _FIVE_DIGITS.search(text):
        yield from _group(_ZIP_STATE, text, "address")


_IMAGE_EXTENSIONS: Final = _wordset("jpg jpeg png heic gif bmp tif tiff dcm webp")


def _photos(text: str, words: frozenset[str], found: list[Finding]) -> Iterator[Finding]:
    """An image file whose name holds a word that is neither generic nor clinical: likely a name."""
    if "." not in text or not words & _IMAGE_EXTENSIONS:
        return
    named = any(f.kind == "name" for f in found)
    for match in _IMAGE_FILE.finditer(text):
        value = match.group("value")
        stem = value.rsplit(".", 1)[0].split()[-1] if value.split() else value
        start = match.end("value") - len(stem) - (len(value) - len(value.rsplit(".", 1)[0]))
        tokens = _ALPHA_TOKEN.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", stem))
        personal = [w for w in tokens if len(w) >= 3 and w.lower() not in _GENERIC_FILE_WORDS]
        if personal or named:
            yield Finding("photo", max(start, match.start("value")), match.end("value"))


_PHONE_CANDIDATE = re.compile(
    r"(?<![\w/.,:\-])(?:\+\d{1,3}[\s\-.]?)?\(?\d[\d\s\-().]{5,16}\d(?![\w/]|[.,]\d)"
)
"""A run of digits with the separators phone numbers use; `phonenumbers` then says whether it is one."""


_DATE_SHAPED = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}")


def _phones(text: str, found: list[Finding]) -> Iterator[Finding]:
    """Phone numbers as `phonenumbers` reads them in the regions the communities live in: valid
    numbers anywhere, and merely possible ones next to a word like "call" or "mobile"."""
    taken = [(f.start, f.end) for f in found]
    for match in _PHONE_CANDIDATE.finditer(text):
        raw = match.group()
        digits = sum(c.isdigit() for c in raw)
        if not 8 <= digits <= 15 or any(s < match.end() and match.start() < e for s, e in taken):
            continue
        if _DATE_SHAPED.fullmatch(raw.strip()):
            continue  # 2026-05-15 has eight digits too
        bare = raw.isdigit()  # no separators: a PMID or a count as often as a phone number
        if (not bare and _valid_phone(raw)) or (
            _PHONE_WORDS.search(text, max(0, match.start() - 40), match.start()) and _possible_phone(raw)
        ):
            yield Finding("phone", match.start(), match.end())
