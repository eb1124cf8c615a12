"""The pattern rules of the PHI screen (:mod:`mmedrag.quality.phi`): one compiled regex per identifier shape.

Which identifiers to look for follows HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i), restricted to the classes that can
occur in report text: names (A); street addresses, cities with a state, ZIP codes (B); all elements of dates except
the year, and ages over 89 (C); telephone and fax numbers (D, E); e-mail addresses (F); social security, medical
record, health plan, account, certificate/licence, vehicle and device numbers (G-M); URLs (N); IP addresses (O); any
other unique identifying number (R). Times are not listed there but pin an encounter to a date, so clinical
de-identification tools (e.g. the PhysioNet deid package) remove them too. A bare year, and ages up to 89, may stay.

Clinical numbers must stay: vertebral levels (T10-T12, C5-6), rib lists (10/11/12 ribs), sizes (2 x 3 cm), grades
(3/4), clock positions, citations, and IU-Xray's own de-identification mark ``XXXX``.
"""

from __future__ import annotations

import re

Rule = tuple[str, re.Pattern[str]]


def _month_names() -> str:
    """Month names and abbreviations, Title and UPPER case only: ``may`` in prose must not read as a month."""
    names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
    names += ["November", "December"]
    forms: list[str] = []
    for name in names:
        for variant in (name, name.upper()):
            forms.append(f"{variant[:3]}(?:{variant[3:]})?" if len(name) > 3 else variant)
    forms += ["Sept", "SEPT"]
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


MONTH = _month_names()
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH_NUMBER = r"(?:0?[1-9]|1[0-2])"
_ORDINAL = r"(?:st|nd|rd|th|ST|ND|RD|TH)?"
_YEAR = r"(?:1[89]|20)\d{2}"
# The de-identification mark IU-Xray and MIMIC-style corpora leave in place of a value, raw or as the Open-i reader
# (and this module) writes it.
_MASK = r"(?:X{2,}\b|\[REDACTED\])"
_WEEKDAY = (
    r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?|(?:MON|TUE|WED|THU|FRI|SAT|SUN)(?:[A-Z]*DAY)?)"
)
# Quantities that look like long digit runs but are doses or counts ("1000000 units", "250000 cells").
_UNIT_AFTER = r"(?!\s*(?:units?|U|IU|mg|mcg|ug|\u00b5g|g|kg|mL|ml|L|cells|copies|/)\b)"
_AMPM = r"[AaPp](?:\.?[Mm])?\b\.?"  # "12:30p" occurs in IU-Xray
_NOT_AFTER = r"(?<![\w:.,;+-])(?<!; )"
_NOT_BEFORE = r"(?![\w:]|[.,]\d|-\d|\s*(?:position|o'?clock))"
# A list of ribs or levels written with slashes or dashes ("10/11/12 ribs", "ribs 9-10-11") is not a date.
_NOT_RIBS = (
    r"(?!\s*(?:th\s+)?(?:posterior\s+|anterior\s+|lateral\s+)?(?:ribs?|vertebra[el]?|levels?|costal|intercostal))"
)
_AGE = r"(?:9\d|1[0-2]\d)"  # over 89: Safe Harbor 164.514(b)(2)(i)(C)

DATE_RULES: tuple[Rule, ...] = (
    # ISO 8601 date-times (DICOM DT values, HL7 and FHIR exports): 2019-03-03T10:22, ...:13.125Z, ...+02:00
    (
        "date",
        re.compile(
            rf"(?<![\w.])(?:19|20)\d{{2}}-?{_MONTH_NUMBER}-?{_DAY}T(?:[01]\d|2[0-3]):?[0-5]\d"
            r"(?::?[0-5]\d(?:[.,]\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?(?![\w])"
        ),
    ),
    ("date", re.compile(rf"(?<![\w.])(?:19|20)\d{{2}}([-/.]){_MONTH_NUMBER}\1{_DAY}(?![\w]|[.]\d)")),  # ISO
    ("date", re.compile(rf"(?<![\w./-])\d{{1,2}}([-/]){_DAY}\1(?:19|20)\d{{2}}(?![\w/-]|[.]\d)")),  # 03/04/2019
    # A two-digit year: only where the numbers are not a list of ribs or levels ("10/11/12 ribs", "T10-11-12").
    ("date", re.compile(rf"(?<![\w./-])(?<!rib )(?<!ribs )\d{{1,2}}([-/]){_DAY}\1\d{{2}}(?![\w/-]|[.]\d){_NOT_RIBS}")),
    ("date", re.compile(rf"(?<![\w.])\d{{1,2}}\.{_DAY}\.(?:19|20)\d{{2}}(?![\w]|[.]\d)")),  # 04.03.2019
    # March 4, 2019 / Monday, March 4th / MAR. 4 2019
    ("date", re.compile(rf"\b(?:{_WEEKDAY},?\s+)?{MONTH}\.?\s+{_DAY}{_ORDINAL}\b(?:,?\s+{_YEAR}\b)?")),
    # 4 Mar 2019 / 3rd of March 2014 / the 3rd of MARCH
    ("date", re.compile(rf"\b{_DAY}{_ORDINAL}\s+(?:of\s+|OF\s+)?{MONTH}\b\.?(?:,?\s+{_YEAR}\b)?")),
    ("date", re.compile(rf"\b{MONTH}\.?,?\s+(?:of\s+)?{_YEAR}\b")),  # March 2019: the month is a date element
    (
        "date",
        re.compile(rf"\b(?:19|20)\d{{2}}{MONTH}\d{{2}}\b|\b\d{{2}}-?{MONTH}-?\d{{2,4}}\b"),
    ),  # 2019MAR04, 04-MAR-19
    # What a partial de-identification leaves: "02/010/XXXX", "11/7/ XXXX", "XXXX/11" (all seen in IU-Xray).
    ("date", re.compile(rf"(?<![\w./-])\d{{1,2}}/\d{{1,3}}/\s*{_MASK}")),
    ("date", re.compile(rf"{_MASK}/{_DAY}\b(?!/)|(?<![\w./-]){_MONTH_NUMBER}/{_MASK}")),
    # Month/day without a year only where the context says date: a fraction ("lower 1/3") must not match.
    (
        "date",
        re.compile(
            rf"(?:(?<=\bon )|(?<=\bdated )|(?<=\bsince )|(?<=\bfrom )|(?<=\bof )|(?<=XX )|(?<=\bDOB )|(?<=DOB: ))"
            rf"{_MONTH_NUMBER}/{_DAY}\b(?![/.]\d){_NOT_RIBS}"
        ),
    ),
    ("date", re.compile(rf"(?<![\w./-]){_MONTH_NUMBER}/{_DAY}(?=\s+{_MASK})")),
    # Labelled dates in any numeric form: "DOB: 3-4-51", "date of birth 030451", "admitted 3.4.19".
    (
        "date",
        re.compile(
            r"\b(?i:DOB|D\.O\.B\.|date\s+of\s+(?:birth|death|service|admission|discharge|exam(?:ination)?|study)"
            r"|birth\s*date|DOS|admitted|discharged|deceased|died)\s*(?:on\s+)?[:#]?\s*"
            r"(?P<value>\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}|\d{6,8})"
        ),
    ),
)

TIME_RULES: tuple[Rule, ...] = (
    # HH:MM, or H:MM with am/pm. A one-digit hour alone reads as a ratio ("M:F 1:19"); citations ("1999; 17:47-55"),
    # incidences ("1:50,000") and breast clock positions ("12:00 position") are not times.
    ("time", re.compile(rf"{_NOT_AFTER}(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*{_AMPM})?{_NOT_BEFORE}")),
    ("time", re.compile(rf"{_NOT_AFTER}\d:[0-5]\d(?::[0-5]\d)?\s*{_AMPM}{_NOT_BEFORE}")),
    # 2 pm, 142 pm (IU-Xray); the "m" is required here, or figure labels ("Fig. 1a") would match.
    ("time", re.compile(r"(?<![\w:.])(?:1[0-2]|0?[1-9])(?:[0-5]\d)?\s*[AaPp]\.?[Mm]\b\.?")),
    ("time", re.compile(r"(?<![\w:.])(?:[01]\d|2[0-3])[0-5]\d\s*(?i:hours|hrs|h)\b")),  # 1430 hours
)

AGE_WORDS = re.compile(r"\b(?i:nonagenarian|centenarian|(?:in\s+(?:his|her|their)\s+)(?:90s|nineties|100s))\b")
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
# 90 to 119 in words: ninety, ninety-two, one hundred, a hundred and one, one hundred twelve
_AGE_NUMBER_WORDS = (
    rf"(?:ninety(?:[-\s](?:{_UNITS}))?|(?:one|a)[-\s]hundred(?:(?:[-\s]and)?[-\s](?:{_UNITS}|{_TEENS}))?)"
)
_YEARS_OLD = r"[-\s]+(?:years?|yrs?)(?:[-\s]+old|\s+of\s+age)?"
AGE_IN_WORDS = re.compile(
    rf"\b(?i:(?:aged?|age\s*:?)\s+{_AGE_NUMBER_WORDS}\b(?:{_YEARS_OLD})?|{_AGE_NUMBER_WORDS}{_YEARS_OLD})(?![\w])"
)
AGE_RULES: tuple[Rule, ...] = (
    # 92-year-old, 97 y.o., 97yo, 101 yrs, 95 years of age, 97-y/o
    (
        "age",
        re.compile(
            rf"(?<![\w.]){_AGE}(?:\s*|-)(?i:years?|yrs?\.?|y\.?\s?o\.?|y/o|yo|y-o|-year|year)"
            rf"(?:(?i:[-\s]old)|(?i:\s+of\s+age))?(?![\w])"
        ),
    ),
    ("age", re.compile(rf"\b(?i:aged?|age\s*:|age\s+of)\s*(?P<value>{_AGE})(?![\w.]|\.\d)")),  # aged 102, age: 97
    ("age", AGE_WORDS),
    ("age", AGE_IN_WORDS),  # ninety-two-year-old, aged ninety, one hundred and one years old
)

_EXTENSION = r"(?:\s?(?:x|ext\.?\s?)\d{1,5})?"
_PHONE_LABEL = r"(?i:phone|telephone|tel|fax|facsimile|pager|beeper|cell\s+phone|mobile|call(?:ed)?\s+at|ext|extension)"
PHONE_RULES: tuple[Rule, ...] = (
    (
        "phone",
        re.compile(
            r"(?<![\w.-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}" + _EXTENSION + r"(?![\w-])"
        ),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w.-])(?:\+|00)\d{1,3}[\s.-]?(?:\(0?\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}"
            + _EXTENSION
            + r"\b"
        ),
    ),
    # A number with an extension: "555 0199 extension 24", "555-0177 x12", "(555) 013 2255, extension 9".
    (
        "phone",
        re.compile(
            r"(?<![\w.,/-])(?:\(\d{2,5}\)\s?)?\d{2,5}(?:[\s.-]\d{2,5}){1,3},?\s*(?i:ext\.?|extension|x)\s?\d{1,5}\b"
        ),
    ),
    # An extension on its own, word and number: "ext 4417", "extension 5520".
    ("phone", re.compile(r"\b(?i:ext\.?|extension)\s*[:#]?\s*\d{2,5}\b")),
    # National numbers with a trunk 0 (UK, much of Europe): "020 7946 0958", "01632 960 123", "0161 496 0754".
    ("phone", re.compile(r"(?<![\w.,/:-])0\d{2,4}[\s-]\d{3,4}[\s-]\d{3,4}(?![\w-]|[.,]\d)")),
    # A local number or an extension after a label: "pager 4-1234", "ext. 5567", "fax: 555 0134".
    (
        "phone",
        re.compile(
            rf"\b{_PHONE_LABEL}\.?\s*(?:no\.?|number|#)?\s*[:#]?\s*(?P<value>(?=(?:[\s.-]?\d){{4}})\d[\d\s.-]{{2,12}}\d)\b"
        ),
    ),
)

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
EMAIL_RULES: tuple[Rule, ...] = (("email", EMAIL),)

# Numbers that cite literature, not a patient: an id right after one of these labels is skipped.
REFERENCE_LABEL = re.compile(r"\b(?:PMID|PMCID|PMC|UI|ISBN|ISSN|DOI|rID|MIM|OMIM)\s*[:#]?\s*$", re.IGNORECASE)
URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"')\]]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|edu|gov)(?:/\S*)?\b")
# Hosts of literature, teaching references, licences and data sets, and any URL holding a DOI ("10.3348/kjr..."):
# a URL citing them names no patient.
REFERENCE_HOSTS = re.compile(
    r"(?i:ncbi\.nlm\.nih\.gov|pubmed|doi\.org|radiopaedia\.org|wikipedia\.org|medpix|openi\.nlm\.nih\.gov"
    r"|nlm\.nih\.gov|who\.int|cdc\.gov|nih\.gov|rsna\.org|acr\.org|springer|elsevier|wiley|nejm\.org|ajronline"
    r"|bmj\.com|thelancet|jamanetwork|sciencedirect|nature\.com|oup\.com|ahajournals|journals\."
    r"|creativecommons\.org|physionet\.org|arxiv\.org|zenodo\.org|\bdoi\b|\b10\.\d{4,9}/)"
)
IP_RULES: tuple[Rule, ...] = (
    ("ip", re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w]|\.\d)")),
    ("ip", re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])")),
)

_ID_LABEL = (
    r"MRN|MR\s?#|medical\s+record(?:\s+(?:number|no\.?|#))?|accession(?:\s+(?:number|no\.?|#))?|acc\s?#|acc\.?\s+no\.?"
    r"|patient\s+(?:id|number|no\.?|#)|pt\.?\s+(?:id|#)|SSN|social\s+security(?:\s+(?:number|no\.?|#))?"
    r"|account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s*(?:number|no\.?|#))?|FIN|CSN|encounter\s+(?:number|no\.?|id)"
    r"|(?:health\s+plan|insurance|member|policy|beneficiary|medicare|medicaid|subscriber)\s+(?:id|number|no\.?|#)"
    r"|licen[cs]e\s+(?:plate|number|no\.?|#)|certificate\s+(?:number|no\.?|#)|DEA(?:\s+#)?|NPI"
    r"|serial\s+(?:number|no\.?|#)|device\s+(?:id|serial)|VIN|badge\s+(?:number|#)"
    r"|case\s+(?:number|no\.?|#)|study\s+(?:id|number)|requisition(?:\s+(?:number|no\.?|#))?|order\s+(?:number|#)"
    # Hospital and national patient numbers outside the US: "Hospital no: QZ4419TT", "NHS number 943 476 5919"
    r"|(?:hospital|unit|NHS|CHI|record|registration|health\s+card|insurance|patient|pt\.?)\s+(?:number|no\.?|#|id|ref)"
    r"|patient\s+(?:ref(?:erence)?|identifier)|identifier|reference|ref"
)
# Serial numbers: "S/N: RZB404417H", "SN 88F-2231-ZK", "serial no. 4471-AC-22" (capital S/N and SN only: "sn" is tin).
_SERIAL_LABEL = r"(?:\b(?:device\s+)?(?:S/N|SN)|\b(?i:(?:device\s+)?serial(?:\s+(?:number|no\.?|#))?))"
ID_RULES: tuple[Rule, ...] = (
    ("id", re.compile(r"(?<![\w-])\d{3}([\s.-])\d{2}\1\d{4}(?![\w-])")),  # SSN-shaped, dashed or spaced
    (
        "id",
        re.compile(
            rf"\b(?i:{_ID_LABEL})(?![A-Za-z])\s*(?:[:#=]|is|no\.?)?\s*[:#]?\s*"
            r"(?P<value>\d{3}[\s.-]\d{2}[\s.-]\d{4}|\d{2,4}(?:\s\d{2,4}){1,3}(?![\w.])"
            r"|(?=[A-Za-z0-9/-]*\d)[A-Za-z0-9][A-Za-z0-9/-]{3,}(?<![/-]))"
        ),
    ),
    (
        "id",
        re.compile(
            rf"{_SERIAL_LABEL}(?![A-Za-z])\s*(?:[:#=]|is)?\s*"
            r"(?P<value>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,}(?<!-))"
        ),
    ),
    # Six or more digits standing alone: MRN- and accession-like. Not inside words ("CXR1234567") or decimals.
    # An image id's tail ("IM-0044-84654001") is part of a longer token, not a number on its own.
    ("id", re.compile(r"(?<![\w.,-])\d{6,}(?![\w]|[.,]\d)" + _UNIT_AFTER)),
    ("id", re.compile(r"(?<![\w.,-])\d{2,4}-\d{5,}(?![\w-]|[.,]\d)")),  # 12-345678: hospital number formats
    # Vehicle plates may hold a space ("7LN K98", "EP 0311"): letters and digits in capitals after the label.
    (
        "id",
        re.compile(
            r"\b(?i:licen[cs]e\s+plate|plate\s+(?:number|no\.?|#)|tag\s+number)(?:\s+(?i:number|no\.?|#))?\s*[:#]?\s*"
            r"(?P<value>(?=[A-Z0-9 -]*\d)[A-Z0-9]{1,4}[\s-]?[A-Z0-9]{1,7})\b"
        ),
    ),
)

_STATES = (  # the states, DC, territories and freely associated states (USPS two-letter codes)
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK"
    "|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|FM|MH|PW"
)
# USPS Publication 28, Appendix C1 street suffixes, less those that are also anatomy or radiology words (View, Neck,
# Branch, Crest, Junction, Wall, Spur, Ridge, Point, Plain, Field, Rest, ...). Title or UPPER case, spelled out, or
# one of the Title-case abbreviations below (never "CT", "PA" or "ST" in capitals).
_SUFFIX_TEXT = """
    Alley Annex Arcade Avenue Bayou Beach Bend Bluff Bluffs Boulevard Burg Burgs Bypass Camp Canyon Causeway Center
    Centers Circle Circles Club Common Commons Corner Corners Court Courts Cove Coves Creek Crescent Crossing
    Crossroad Dale Dam Drive Drives Estate Estates Expressway Falls Ferry Flat Flats Ford Fords Forest Forge Forges
    Fort Freeway Garden Gardens Gateway Glen Glens Green Greens Grove Groves Harbor Harbors Haven Heights Highway Hill
    Hills Hollow Inlet Knoll Knolls Lake Lakes Landing Lane Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill
    Mills Mission Motorway Mountain Mountains Orchard Overpass Park Parks Parkway Parkways Pike Pines Place Plaza
    Port Ports Prairie Ranch Road Roads Route Row Rue Run Shoal Shoals Shore Shores Skyway Springs Square Squares
    Station Stravenue Street Streets Summit Terrace Throughway Trafficway Trail Trailer Tunnel Turnpike Underpass
    Union Unions Valley Valleys Viaduct Village Villages Ville Vista Walk Walks Way Ways
"""
_SUFFIX_WORDS = _SUFFIX_TEXT.split()
_ABBREVIATION_TEXT = "St Ave Av Rd Blvd Ln Dr Ct Pl Ter Cir Pkwy Hwy Sq Trl Plz Rte Aly Cres Gdns Tpke Expy Fwy Hts"
_SUFFIX_ABBREVIATIONS = _ABBREVIATION_TEXT.split()
_SUFFIX = "(?:" + "|".join([*_SUFFIX_WORDS, *(w.upper() for w in _SUFFIX_WORDS), *_SUFFIX_ABBREVIATIONS]) + ")"
_ANATOMY_TEXT = """
    Bottom Branch Bridge Bridges Cape Cliff Cliffs Course Crest Curve Divide Extension Extensions Field Fields Fork
    Forks Island Islands Isle Junction Junctions Key Keys Light Lights Loaf Lock Locks Mount Neck Oval Pass Passage
    Plain Plains Point Points Radial Ramp Rapid Rapids Rest Ridge Ridges Spring Spur Spurs Stream Trace Track View
    Views Wall Well Wells
"""
_ANATOMY = [w for word in _ANATOMY_TEXT.split() for w in (word, word.upper())]
_ANY_SUFFIX = "(?:" + _SUFFIX[3:-1] + "|" + "|".join(_ANATOMY) + ")"
_STREET_WORD = r"(?:[A-Z][a-z]+|[A-Z]{2,}|\d{1,3}(?:st|nd|rd|th))"
_UNIT = r"(?:(?i:apt|apartment|suite|ste|unit|room|rm|floor|fl|bldg|building)\b\.?|#)\s*#?\s*[\w-]+"
_HOUSE = r"(?<![\w.,/-])\d{1,6}[A-Z]?\s+(?:[NSEW]\.?\s+|(?:North|South|East|West|NORTH|SOUTH|EAST|WEST)\s+)?"
_CITY_STATE_ZIP = rf"(?:[A-Z][A-Za-z'.-]+\s+){{0,2}}[A-Z][A-Za-z'.-]+,?\s+(?:{_STATES})\.?\s+\d{{5}}(?:-\d{{4}})?\b"
# Where an address is announced, the rest of the USPS suffixes (Pass, Bridge, Island, Spur, ...) count as well.
SHIP = re.compile(r"\bUS(?:NS|NV|S|CGC)\s+[A-Z][a-z]+(?:,\s+[ADF]PO\s+A[AEP]\s+\d{5})?\b")
_ADDRESS_CUE = (
    r"(?i:resides|residing|lives|living|reside|live|home|address(?:ed)?|residence|located|moved)\b[^.;\n]{0,12}?"
)
# Street names of continental Europe, with or without a house number before or after (no ZIP needed):
# "17 Rue des Lilas", "Via Roma 45", "Calle de Alcalá 50", "Hauptstraße 12", "Kerkstraat 21", "ul. Kwiatowa 5".
_EU_NAME = r"[A-ZÀ-ÖØ-ÞŁŚŻŹĆ][^\W\d_]+(?:[\s-][A-ZÀ-ÖØ-ÞŁŚŻŹĆ][^\W\d_]+){0,3}"
_FR_WAY = r"(?:Rue|Avenue|Boulevard|Bd|Place|Quai|Allée|Impasse|Chemin|Cours|Passage|Square|Faubourg)"
_FR_LINK = r"(?:de\s+la\s+|de\s+l'|des\s+|du\s+|de\s+|d'|la\s+|le\s+)?"
_SOUTH_WAY = (
    r"(?:Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Calle|Avenida|Paseo|Plaza|Carrer|Rua|Travessa|Praça|Largo)"
)
_SOUTH_LINK = r"(?:(?:de\s+la|de|del|della|delle|dei|degli|di|da|das|do|dos|dels)\s+)?"
_COMPOUND = (
    r"[A-ZÀ-ÖØ-Þ][^\W\d_]{1,}?(?:straße|strasse|str\.|weg|gasse|allee|platz|damm|ufer|chaussee|gracht|straat|laan|plein"
    r"|steeg|kade|singel|gade|gata|gatan|vägen|vej|veien|vegen|katu|tie)"
)
_HOUSE_NUMBER = r"\d{1,4}(?:\s?[a-zA-Z]\b|\s?(?:bis|ter)\b)?"
EU_ADDRESS_RULES: tuple[Rule, ...] = (
    ("address", re.compile(rf"(?<![\w.,/-]){_HOUSE_NUMBER},?\s+{_FR_WAY}\s+{_FR_LINK}{_EU_NAME}")),
    (
        "address",
        re.compile(rf"\b{_SOUTH_WAY}\s+{_SOUTH_LINK}{_EU_NAME},?\s+{_HOUSE_NUMBER}(?![\w/-]|[.,]\d|\s?[x×]\s?\d)"),
    ),
    ("address", re.compile(rf"\b{_COMPOUND}\s+{_HOUSE_NUMBER}(?![\w/-]|[.,]\d|\s?(?:x|×|cm|mm)\b)")),
    ("address", re.compile(rf"\b(?:ul|al|os|pl)\.\s+{_EU_NAME}\s+{_HOUSE_NUMBER}(?![\w/-]|[.,]\d)")),
)
ADDRESS_RULES: tuple[Rule, ...] = (
    # 1234 North Oak Street, Apt. 5 / 221B Baker St / 98754 MYERS SQUARES
    ("address", re.compile(rf"{_HOUSE}(?:{_STREET_WORD}\s+){{1,3}}{_SUFFIX}\b\.?(?:,?\s+{_UNIT})?")),
    # Any USPS suffix where an apartment, or a city with state and ZIP, follows, or where the text says "lives at".
    (
        "address",
        re.compile(
            rf"{_HOUSE}(?:{_STREET_WORD}\s+){{1,3}}{_ANY_SUFFIX}\b\.?"
            rf"(?=,?\s+{_UNIT}|,?\s+{_CITY_STATE_ZIP})(?:,?\s+{_UNIT})?"
        ),
    ),
    ("address", re.compile(rf"{_ADDRESS_CUE}(?P<value>\d{{1,6}}[A-Z]?\s+(?:{_STREET_WORD}\s+){{1,3}}{_ANY_SUFFIX}\b)")),
    ("address", re.compile(r"\b(?i:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box)\s+\d+\b")),
    ("address", re.compile(rf"\b{_CITY_STATE_ZIP}")),  # City, ST 12345(-6789): the city, state and ZIP together
    ("address", re.compile(r"\b(?i:zip(?:\s*code)?|postal\s+code)\s*[:#]?\s*(?P<value>\d{5}(?:-\d{4})?)\b")),
    # US military and diplomatic mail: "Unit 6277 Box 2793, DPO AP 16292", "USCGC Brewer, FPO AA 17907"
    ("address", re.compile(r"\b(?:(?:Unit|PSC)\s+\d+,?\s+Box\s+\d+,?\s+)?[ADF]PO\s+A[AEP]\s+\d{5}\b")),
    ("address", SHIP),
    *EU_ADDRESS_RULES,
)

KINDS: tuple[str, ...] = ("name", "date", "age", "address", "phone", "email", "url", "ip", "id", "time")
PRIORITY = {kind: rank for rank, kind in enumerate(("email", "url", "ip", "phone", "id", "address", "date"))}
PRIORITY |= {"time": 7, "age": 8, "name": 9}
# The rules that can match text without a digit; phi.py runs only these on digit-free text (most sentences).
DIGIT_FREE = frozenset({EMAIL, AGE_WORDS, AGE_IN_WORDS, SHIP})
RULES: tuple[Rule, ...] = (
    *EMAIL_RULES,
    *IP_RULES,
    *PHONE_RULES,
    *ID_RULES,
    *ADDRESS_RULES,
    *DATE_RULES,
    *TIME_RULES,
    *AGE_RULES,
)
