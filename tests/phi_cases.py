"""The labelled PHI set the screen is tuned on: synthetic sentences with every identifier marked, and clean sentences.

Marked as ``{kind:value}``; :func:`parse` gives the plain text and the gold spans. All names, numbers and places are
invented. The held-out set is generated separately (``benchmarks/bench_phi.py``) from other templates and Faker.
Classes follow HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i); the comment on each group names the letter.
"""

from __future__ import annotations

import re

_MARK = re.compile(r"\{(\w+):([^{}]+)\}")

PHI_CASES: tuple[str, ...] = (
    # (A) names: titles in any case, multi-word surnames, labels, post-nominals, given name + surname
    "Findings discussed with Dr. {name:Smith} at {time:14:32}.",
    "DISCUSSED WITH DR. {name:SMITH} BY TELEPHONE.",
    "Results called to Mr. {name:van der Berg} in the emergency room.",
    "{name:Mary Ann O'Neil-Smith} was informed of the results.",
    "Patient name: {name:DOE, JOHN}",
    "Referring physician: {name:Jane Roe}, MD",
    "Electronically signed by: {name:Robert K. Miller}",
    "Dictated by {name:Angela Whitfield}, M.D.",
    "cc: {name:Peter Lindqvist}",
    "Mrs. {name:de la Cruz} was brought in by her daughter.",
    "Reviewed with Prof. {name:McAllister} on the ward round.",
    "The findings were relayed to nurse practitioner {name:Karen Holt}.",
    "Read by {name:Thomas Becker}, MD.",
    "Referring: {name:MACDONALD, ELIZABETH}",
    "Discussed with {name:Brian Okafor} of the ICU team.",
    "Attending: Dr {name:Nguyen}",
    "Consult by Dr. {name:Şener}; co-signed by {name:Frederic Koch II}.",
    "Interpreted by: {name:Patrik Němečková}",
    # (B) geographic subdivisions smaller than a state: street address, city with state and ZIP
    "Patient lives at {address:1420 North Maple Street}, {address:Springfield, IL 62704}.",
    "Home address: {address:88 Oak Ridge Road, Apt. 4B}.",
    "Transferred from {address:221 Baker Ave}.",
    "Mail films to {address:P.O. Box 1187}.",
    "Zip code: {address:02139}",
    # (C) dates (not the year alone) and ages over 89
    "Compared with the study of {date:March 3, 2014}.",
    "Seen on the {date:3rd of March 2014} for cough.",
    "COMPARISON: {date:03/04/2019}",
    "Prior CT on {date:2019-03-04}.",
    "DOB: {date:3-4-51}",
    "Last seen {date:Monday, July 7th}.",
    "Admitted {date:12 Jan 2020} with fever.",
    "Symptoms since {date:June 2018}.",
    "Chest film {date:04-MAR-19} shows no change.",
    "A {age:97 y.o.} woman with dyspnea.",
    "Patient aged {age:102} with chest pain.",
    "A {age:97-year-old} man, status post fall.",
    "{age:93 yo} male with cough.",
    "History: {age:91 years of age}, fever.",
    "Frail {age:nonagenarian} with pneumonia.",
    # (D, E) telephone and fax numbers
    "Call {phone:555-123-4567} with results.",
    "Please fax the report to {phone:(312) 555-0134}.",
    "Fax: {phone:+44 20 7946 0958}",
    "Reached at {phone:+1-202-555-0173 x4567}.",
    "Pager {phone:4-1234}.",
    "Tel. {phone:312.555.0188}",
    # (F) e-mail
    "Send to {email:jane.doe@example.org} today.",
    # (G-M, R) social security, record, account, plan, licence, device numbers
    "SSN {id:123-45-6789} on file.",
    "SSN: {id:123 45 6789}",
    "MRN: {id:1234567}",
    "Accession number {id:A12345} pending.",
    "Account no. {id:88-001234}",
    "Medicare number {id:1EG4TE5MK73}",
    "Pacemaker serial number {id:PJN123456S}.",
    "Licence number {id:D1234-56789}.",
    "Patient {id:48213377} was scanned.",
    # (N, O) URLs and IP addresses
    "Images uploaded to {url:https://portal.examplehospital.com/p/8812}.",
    "Workstation {ip:10.12.4.201} sent the study.",
    # times pin an encounter to a date
    "Discussed at {time:2:30 pm} with the team.",
    "Called at {time:1430 hours}.",
)

# Clinical text that must stay untouched: numbers, levels, ribs, sizes, grades, eponyms, masks, modalities.
CLEAN_CASES: tuple[str, ...] = (
    "Fractures of the left 10/11/12 ribs.",
    "Healing fractures of ribs 9-10-11 on the right.",
    "Compression deformity at T10-T12 and disc bulge at C5-6.",
    "A 2 x 3 cm mass and a 12 mm nodule; 2.5 x 3.1 cm collection.",
    "Grade 3/4 diastolic dysfunction.",
    "XXXX-year-old male. Dr. XXXX XXXX was notified at XXXX p.m. on XXXX.",
    "A message was left with doctor XXXX' service.",
    "MR imaging of the brain shows MS plaques; DR cassette used.",
    "65-year-old male with cough.",
    "Received 1000000 units of penicillin and 500 mg amoxicillin.",
    "Mass in the lower 1/3 of the esophagus; M:F ratio 1:2.",
    "Enhancing nodule at the 12:00 position of the right breast.",
    "Cancer Invest 1999; 17:47-55. PMID: 16775270. Incidence 1:50,000.",
    "See http://www.ncbi.nlm.nih.gov/pubmed/10894122 and Fig. 1a.",
    "Symptoms may persist for 2 weeks; first seen in 2019.",
    "Kerley B lines and a Hampton hump; no Westermark sign.",
    "Swyer-James syndrome with a hyperlucent left lung.",
    "Pancoast tumor at the right apex.",
    "Patient Information: none provided.",
    "Discussed with Emergency Department staff.",
    "PA and lateral views of the chest, 2 views.",
    "PAIN RT SCAPULAR AREA AND BELOW BREASTS",
    "Heart size normal. Lungs clear. No pneumothorax.",
    "ABG 7.39/28/73/17.5; Na 135, K 2.9, Cl 101.",
    "Bilateral hilar adenopathy, May represent sarcoidosis.",
    "IT MAY REPRESENT ATELECTASIS. NO EFFUSION.",
    "Degenerative changes at L4-L5 and L5-S1 with 3-4 mm retrolisthesis.",
    "The tube tip lies 4.5 cm above the carina.",
    "Tc-99m MDP bone scan, 20 mCi, delayed images at 3 hours.",
    "Stable 8 mm nodule since 2012; 12-month follow-up per Fleischner 2017.",
    "CT dose DLP 450 mGy-cm; CTDIvol 12.3 mGy.",
    "BI-RADS 4A lesion at 2 o'clock, 3 cm from the nipple.",
    "Ejection fraction 55-60%, LVIDd 4.8 cm.",
    "Chest 2 views PA/lateral; 1 view portable AP.",
    "Status post CABG with 5 sternal wires.",
    "Lobulated mass measuring 4.1 x 3.2 x 2.9 cm in the right lower lobe.",
)


def parse(marked: str) -> tuple[str, list[tuple[str, int, int]]]:
    """The plain text of a marked case and its gold spans as (kind, start, end)."""
    text, spans, position = [], [], 0
    length = 0
    for match in _MARK.finditer(marked):
        before = marked[position : match.start()]
        text.append(before)
        length += len(before)
        kind, value = match.group(1), match.group(2)
        spans.append((kind, length, length + len(value)))
        text.append(value)
        length += len(value)
        position = match.end()
    text.append(marked[position:])
    return "".join(text), spans
