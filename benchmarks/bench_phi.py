"""PHI screen quality: recall of identifiers per HIPAA Safe Harbor class, and false-positive sentences on real reports.

Three sets, kept apart:

- tune: the labelled sentences in ``tests/phi_cases.py`` (hand-written PHI across classes, tricky clean radiology
  text) and the IU-Xray sentences whose report id hashes even. The rules were adjusted while looking at these.
- dev: ``DEV_TEMPLATES`` filled with Faker values (seed 11). It was the held-out set of the first run; its misses
  were then fixed, so it is reported as a development set, beside its first-run numbers (in BENCHMARKS.md).
- held-out: ``HELD_TEMPLATES`` (written before any run, not in the other sets), Faker seed 2026, names from locales
  that are not in the given-name lexicon, and the IU-Xray sentences whose report id hashes odd. Not tuned on.

Issue 22 added, in ``benchmarks/phi_sets/``, a held-out set of PHI styles the first screen missed
(``heldout_issue22.txt``: lower-case titles and labels, ages in words, ISO date-times, labelled and serial
numbers with letters and slashes, non-Latin names, European street addresses, phone extensions) and eponym sentences
that must stay clean (``eponyms_heldout.txt``), both committed before any rule change and never tuned on, beside a
development set of the same classes (``dev_issue22.txt``, ``eponyms_dev.txt``) that the rules were written against.
They are scored by sentence: a sentence is caught when every identifier in it is.

An identifier counts as caught when flagged spans cover all of its letters and digits (of any kind: Safe Harbor
asks that it be removed, not that it be named right). A clean sentence counts as a false positive when anything in
it is flagged; IU-Xray is de-identified with ``XXXX`` marks, but a few partial dates and times leaked through, so
flagged sentences are printed for inspection (``--show``).

Run:  .venv/bin/python benchmarks/bench_phi.py --out BENCHMARKS.md     (about 20 s on 2 cores; needs faker)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from faker import Faker

from benchlib import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from mmedrag.quality.phi import scan_phi  # noqa: E402
from phi_cases import CLEAN_CASES, PHI_CASES, parse  # noqa: E402

DATA = Path(os.environ.get("MMEDRAG_DATA") or ROOT.parent / "shared" / "data")
IU_REPORTS = DATA / "iu_xray_reports" / "reports.jsonl"
DEV_LOCALES = ("de_DE", "nl_NL", "it_IT", "fr_FR")  # unseen in the first run; in the lexicon since
UNSEEN_LOCALES = ("sv_SE", "fi_FI", "tr_TR", "cs_CZ", "hu_HU")  # never in the lexicon
Example = tuple[str, list[tuple[str, int, int]]]  # text, [(class, start, end)]


class Generator:
    """Held-out sentences: a template per line, ``{class:FIELD}`` marks a generated identifier."""

    def __init__(self, seed: int, templates: tuple[tuple[str, str], ...], locales: tuple[str, ...]) -> None:
        self.rng = random.Random(seed)
        Faker.seed(seed)
        self.us = Faker("en_US")
        self.unseen = [Faker(locale) for locale in locales]
        self.templates = templates

    def _one_of(self, *makers: Callable[[], str]) -> str:
        return self.rng.choice(makers)()

    @staticmethod
    def _upper_name(faker: Faker) -> str:
        return f"{faker.first_name()} {faker.last_name()}".upper()

    def value(self, field: str) -> str:
        us, rng = self.us, self.rng
        other = rng.choice(self.unseen)
        date = us.date_between("-30y", "today")
        makers = {
            "last": us.last_name,
            "LAST": lambda: us.last_name().upper(),
            "first_last": lambda: f"{us.first_name()} {us.last_name()}",
            "FIRST_LAST": partial(self._upper_name, us),
            "last_first": lambda: f"{us.last_name()}, {us.first_name()}",
            "other_last": other.last_name,
            "other_first_last": lambda: f"{other.first_name()} {other.last_name()}",
            "date": lambda: date.strftime(rng.choice(DATE_FORMATS)).replace(" 0", " "),
            "age": lambda: rng.choice(AGE_FORMATS).format(n=rng.randint(90, 110)),
            "street": us.street_address,
            "city_state_zip": lambda: f"{us.city()}, {us.state_abbr()} {us.zipcode()}",
            "address": lambda: us.address().replace("\n", ", "),
            "phone": us.phone_number,
            "email": partial(self._one_of, us.email, us.free_email, us.company_email),
            "url": partial(self._one_of, us.url, us.uri),
            "ip": partial(self._one_of, us.ipv4, us.ipv4_private, us.ipv6),
            "ssn": lambda: us.ssn().replace("-", rng.choice(["-", " ", "-"])),
            "digits": lambda: str(rng.randint(10**6, 10**9)),
            "account": lambda: us.bothify(rng.choice(["??######", "#########", "##-#######", "A#######"])).upper(),
            "plate": us.license_plate,
            "time": lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        }
        return makers[field]()

    def sentences(self, count_per_template: int) -> Iterator[tuple[str, Example]]:
        for template_class, template in self.templates:
            for _ in range(count_per_template):
                marked = re.sub(r"\{(\w+):(\w+)\}", lambda m: "{" + m[1] + ":" + self.value(m[2]) + "}", template)
                yield template_class, parse(marked)


DATE_FORMATS = ("%B %d, %Y", "%d %B %Y", "%m/%d/%Y", "%Y-%m-%d", "%b. %d", "%d-%b-%Y", "%A, %B %d", "%b %d %Y")
AGE_FORMATS = ("{n}-year-old", "{n} yo", "{n} y/o", "{n} years old", "{n}yo", "{n}-yr-old", "{n} y.o.")
# (the row of the table it counts in, template). None of these sentences is in tests/phi_cases.py. DEV_TEMPLATES
# were the held-out set of the first run (its numbers are in BENCHMARKS.md); the rules were then fixed on its misses,
# so it became a development set, and HELD_TEMPLATES were written, before any run, as the new held-out set.
DEV_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("name: title", "Preliminary read given to Dr. {name:last} in the emergency department."),
    ("name: title", "CASE REVIEWED WITH DR. {name:LAST} AND RESIDENT."),
    ("name: title", "Mrs. {name:first_last} declined the contrast injection."),
    ("name: title", "Doctor {name:last} requested a portable film."),
    ("name: title", "Ms {name:last} was positioned supine."),
    ("name: label", "Ordering provider: {name:first_last}"),
    ("name: label", "PATIENT: {name:last_first}"),
    ("name: label", "Radiologist: {name:first_last}, MD"),
    ("name: label", "Transcribed by: {name:first_last}"),
    ("name: given name", "{name:first_last} tolerated the procedure well."),
    ("name: given name", "Report given to {name:first_last} at the bedside."),
    ("name: given name", "THE STUDY WAS REVIEWED BY {name:FIRST_LAST}."),
    ("name: unseen locale", "Consult note by Dr. {name:other_last}."),
    ("name: unseen locale", "Referring clinician: {name:other_first_last}"),
    ("name: unseen locale", "{name:other_first_last} was informed of the result."),
    ("date", "Prior exam dated {date:date} for comparison."),
    ("date", "Follow-up chest radiograph on {date:date} is recommended."),
    ("date", "COMPARISON: {date:date}"),
    ("age > 89", "{age:age} female with shortness of breath."),
    ("age > 89", "History: {age:age} male, fall at home."),
    ("address", "The patient resides at {address:street}."),
    ("address", "Outside films from {address:address}."),
    ("address", "Returned to nursing home in {address:city_state_zip}."),
    ("phone / fax", "Please call {phone:phone} with critical results."),
    ("phone / fax", "Fax report to {phone:phone}."),
    ("e-mail", "Images sent to {email:email} for review."),
    ("URL", "Outside images available at {url:url}"),
    ("IP address", "Study pushed from modality at {ip:ip} to PACS."),
    ("SSN", "SSN: {id:ssn}"),
    ("record / account number", "MRN {id:digits}; accession pending."),
    ("record / account number", "Account number: {id:account}"),
    ("record / account number", "License plate {id:plate} noted on the ambulance form."),
    ("time", "Critical result called at {time:time} to the floor."),
)
HELD_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("name: title", "Film reviewed by Dr {name:last} prior to discharge."),
    ("name: title", "MR. {name:LAST} WAS TRANSPORTED BY STRETCHER."),
    ("name: title", "Prof. {name:first_last} agreed with the interpretation."),
    ("name: title", "Called Mrs {name:last} regarding the findings."),
    ("name: label", "Attending physician: {name:first_last}"),
    ("name: label", "NAME: {name:last_first}"),
    ("name: label", "Verified by: {name:first_last}, M.D."),
    ("name: given name", "Spoke with {name:first_last} in person."),
    ("name: given name", "Family member {name:first_last} was present."),
    ("name: given name", "{name:FIRST_LAST} WAS CONTACTED."),
    ("name: unseen locale", "Seen by Dr. {name:other_last} in clinic."),
    ("name: unseen locale", "Interpreted by: {name:other_first_last}"),
    ("name: unseen locale", "{name:other_first_last} signed the consent."),
    ("date", "Study performed {date:date}."),
    ("date", "Previous radiograph from {date:date} shows similar findings."),
    ("date", "DATE OF EXAM: {date:date}"),
    ("date", "The patient was admitted on {date:date}."),
    ("age > 89", "Patient is a {age:age} nursing home resident."),
    ("age > 89", "{age:age} with altered mental status."),
    ("address", "Lives at {address:street} with her son."),
    ("address", "Mailing address: {address:address}"),
    ("address", "Transferred from a facility in {address:city_state_zip}."),
    ("phone / fax", "Contact number {phone:phone}."),
    ("phone / fax", "Results faxed to {phone:phone} on request."),
    ("e-mail", "Questions: {email:email}"),
    ("URL", "Report viewable at {url:url} for 30 days."),
    ("IP address", "DICOM node {ip:ip} timed out."),
    ("SSN", "Social security number {id:ssn}."),
    ("record / account number", "Medical record number: {id:digits}"),
    ("record / account number", "Acct# {id:account}"),
    ("record / account number", "Vehicle plate number {id:plate}."),
    ("time", "Exam started at {time:time} and ended later."),
)


def coverage(text: str, gold: list[tuple[str, int, int]]) -> list[bool]:
    """For each gold identifier: is every letter and digit of it inside a flagged span? (The ", " between a street
    and its city may stay.)"""
    flagged = [False] * len(text)
    for match in scan_phi(text):
        start, end = match.span
        flagged[start:end] = [True] * (end - start)
    return [all(flagged[i] for i in range(s, e) if text[i].isalnum()) for _, s, e in gold]


def recall_table(rows: Iterator[tuple[str, Example]]) -> tuple[dict[str, list[int]], list[str]]:
    """Per row: [caught, total]; and examples of misses."""
    table: dict[str, list[int]] = {}
    misses: list[str] = []
    for row, (text, gold) in rows:
        for (_, s, e), caught in zip(gold, coverage(text, gold), strict=True):
            counts = table.setdefault(row, [0, 0])
            counts[0] += caught
            counts[1] += 1
            if not caught and len(misses) < 40:
                misses.append(f"{row}: {text[s:e]!r} in {text!r}")
    return table, misses


def iu_sentences(part: int) -> Iterator[tuple[str, str]]:
    """(report id, sentence) of the IU-Xray reports in one half (0 tune, 1 held-out), split by report id."""
    with IU_REPORTS.open(encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            if int(hashlib.sha1(report["uid"].encode()).hexdigest(), 16) % 2 != part:
                continue
            for key in ("indication", "comparison", "findings", "impression"):
                for sentence in re.split(r"(?<=[.!?])\s+", report[key] or ""):
                    if sentence.strip():
                        yield report["uid"], sentence


def false_positives(sentences: list[tuple[str, str]]) -> tuple[int, list[str]]:
    flagged = []
    for uid, sentence in sentences:
        found = scan_phi(sentence)
        if found:
            flagged.append(f"{uid}: {sentence!r} -> {[(m.kind, m.text) for m in found]}")
    return len(flagged), flagged


def tune_rows() -> Iterator[tuple[str, Example]]:
    for marked in PHI_CASES:
        text, gold = parse(marked)
        for kind, s, e in gold:
            yield kind, (text, [(kind, s, e)])


def _rate(counts: list[int] | None) -> str:
    return f"{counts[0] / counts[1]:.1%}" if counts else "-"


def _overall(table: dict[str, list[int]]) -> list[int]:
    return [sum(c[0] for c in table.values()), sum(c[1] for c in table.values())]


SETS = ROOT / "benchmarks" / "phi_sets"


def set_lines(name: str) -> list[str]:
    """The sentences of a ``phi_sets`` file (comment lines and blank lines left out)."""
    lines = (SETS / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sentence_recall(name: str) -> tuple[int, int, int, int, list[str]]:
    """Sentences with every identifier caught, sentences, identifiers caught, identifiers, and the missed sentences."""
    caught = sentences = found = identifiers = 0
    misses = []
    for marked in set_lines(name):
        text, gold = parse(marked)
        covered = coverage(text, gold)
        sentences += 1
        caught += all(covered)
        found += sum(covered)
        identifiers += len(covered)
        if not all(covered):
            misses.append(f"{name}: {text!r} -> {[(m.kind, m.text) for m in scan_phi(text)]}")
    return caught, sentences, found, identifiers, misses


def render_issue22(results: dict) -> str:
    lines = [
        "",
        "Issue 22 sets (`benchmarks/phi_sets/`), by sentence:",
        "",
        "| set | sentences | sentence recall | identifiers caught |",
        "| --- | --- | --- | --- |",
    ]
    for name, label in (("dev_issue22.txt", "dev (tuned on)"), ("heldout_issue22.txt", "**held-out** (goal >= 95%)")):
        caught, n, found, identifiers, _ = results["issue22"][name]
        lines.append(f"| {label} | {n} | {caught / n:.1%} | {found}/{identifiers} |")
    eponyms = results["eponyms"]
    iu = [(n, f) for name, (n, f) in results["false_positives"].items() if "IU-Xray" in name]
    held = eponyms["eponyms_heldout.txt"]
    total, flagged = sum(n for n, _ in iu) + held[0], sum(f for _, f in iu) + held[1]
    lines += [
        "",
        "| clean text with eponyms | sentences | flagged |",
        "| --- | --- | --- |",
        *(f"| `{name}` | {n} | {f} |" for name, (n, f) in eponyms.items()),
        f"| **IU-Xray (all {sum(n for n, _ in iu):,}) + held-out eponyms** (goal <= 1%) | {total:,} | "
        f"{flagged} ({flagged / max(total, 1):.2%}) |",
    ]
    return "\n".join(lines) + "\n"


def render(results: dict, elapsed: float) -> str:
    dev, held, tune = results["dev_recall"], results["held_recall"], results["tune_recall"]
    lines = [
        "## PHI screen (`benchmarks/bench_phi.py`)",
        "",
        f"Machine: {machine()}. Screen: `mmedrag.quality.phi.scan_phi` (rules + phonenumbers); run {elapsed:.0f} s.",
        "",
        "Recall = identifiers whose every letter and digit is flagged. Tune: the labelled set in `tests/phi_cases.py`",
        "(one row per kind below the table). Dev: Faker-filled templates (`DEV_TEMPLATES`) that were the held-out set",
        "of the first run and were then fixed on. Held-out: new templates (`HELD_TEMPLATES`), another seed, names",
        f"from locales never in the lexicon ({', '.join(UNSEEN_LOCALES)}); one fix since its first run (below).",
        "",
        "| class (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)) | dev recall | held-out recall | held-out n |",
        "| --- | --- | --- | --- |",
    ]
    for row in sorted(set(held) | set(dev)):
        lines.append(
            f"| {row} | {_rate(dev.get(row))} | {_rate(held.get(row))} | {held[row][1] if row in held else '-'} |"
        )
    lines += [
        f"| **all identifiers** | **{_rate(_overall(dev))}** | **{_rate(_overall(held))}** | {_overall(held)[1]} |",
        "",
        "Tune (labelled set): " + ", ".join(f"{k} {c[0]}/{c[1]}" for k, c in sorted(tune.items())) + ".",
        "",
        "| clean text | sentences | flagged | flagged rate |",
        "| --- | --- | --- | --- |",
    ]
    for name, (n, flagged) in results["false_positives"].items():
        lines.append(f"| {name} | {n} | {flagged} | {flagged / n:.2%} |")
    return "\n".join(lines) + "\n" + render_issue22(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-template", type=int, default=60, help="generated sentences per template (60)")
    parser.add_argument("--out", help="write the section into this BENCHMARKS.md")
    parser.add_argument("--show", action="store_true", help="print misses and flagged IU-Xray sentences")
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict = {"tune_recall": recall_table(tune_rows())[0]}
    dev = Generator(11, DEV_TEMPLATES, DEV_LOCALES).sentences(args.per_template)
    results["dev_recall"], dev_misses = recall_table(dev)
    held = Generator(2026, HELD_TEMPLATES, UNSEEN_LOCALES).sentences(args.per_template)
    results["held_recall"], held_misses = recall_table(held)
    clean = [("tests/phi_cases.py", s) for s in CLEAN_CASES]
    fps: dict[str, tuple[int, int]] = {}
    fps["tune: tricky clean sentences (tests/phi_cases.py)"] = (len(clean), false_positives(clean)[0])
    shown: list[str] = []
    if IU_REPORTS.is_file():
        for part, name in ((0, "tune: IU-Xray sentences, even id hash"), (1, "held-out: IU-Xray, odd id hash")):
            sentences = list(iu_sentences(part))
            count, flagged = false_positives(sentences)
            fps[name] = (len(sentences), count)
            shown += flagged
    results["false_positives"] = fps
    results["issue22"] = {name: sentence_recall(name) for name in ("dev_issue22.txt", "heldout_issue22.txt")}
    results["eponyms"] = {}
    for name in ("eponyms_dev.txt", "eponyms_heldout.txt"):
        sentences = [(name, line) for line in set_lines(name)]
        count, flagged = false_positives(sentences)
        results["eponyms"][name] = (len(sentences), count)
        shown += flagged
    body = render(results, time.perf_counter() - started)
    print(body)
    if args.show:
        for name, misses in (("dev", dev_misses), ("held-out", held_misses)):
            print(f"{name} misses ({dict(Counter(m.split(':')[0] for m in misses))}):", *misses, sep="\n  ")
        for name, (*_, misses) in results["issue22"].items():
            print(f"{name} missed sentences:", *misses, sep="\n  ")
        print("flagged IU-Xray sentences:", *shown, sep="\n  ")
    if args.out:
        write_section(args.out, "bench_phi", body + "\n" + NOTES)


NOTES = """How the numbers came about, honestly:

- First run (rules at the first PHI commit; `DEV_TEMPLATES` then held out, de_DE/nl_NL/it_IT/fr_FR names outside
  the lexicon): 91.8% of 1,980 identifiers; address 55.6% (suffixes such as Pass, Island, Spur were left out as
  anatomy words; military mail), record/account 83.9% (licence plates with a space), names from unseen locales
  76.7%, given name + surname 96.1%. The fixes that followed were made on its misses, so it became the dev set.
- Second run (`HELD_TEMPLATES`, written before any run; rules frozen at commit 8bc7f58): **96.5%** of 1,920
  identifiers; names from unseen locales 65.0%. Half of those misses were a bug:
  only Latin-1 letters counted as letters ("Dr. Şener", "Patrik Němečková"). The table above is after that fix
  (so its held-out column is no longer strictly held out): 97.6%, unseen-locale names 76.7%.
- What is still missed: a name with no title, label or verb cue whose given name is not in the lexicon (Finnish,
  Turkish, Czech, Hungarian names above) or is an ordinary word ("APRIL ARCHER", "Mark Johnson"); a city named
  without state and ZIP code. Not text classes: biometric identifiers and full-face photographs (images).
- Every flagged IU-Xray sentence was inspected (`--show`): all 8 (5 tune, 3 held-out) are date and time fragments
  the collection's own de-identification left in ("obtained on 02/010/XXXX", "at 142 pm XXXX/11", "12:30p",
  "ComparisXXXX/11", "11/7/ XXXX", "6/8 XXXX"): true positives. False-positive sentences on 32,207 real report
  sentences: 0 found (the flagged rate above is an upper bound).
- Issue 22 (held-out and eponym sets written and committed first, at 5cb3363; development set after): before
  any rule change the screen caught 10 of the 72 held-out sentences (13.9%) and flagged 3 of the 60 held-out eponym
  sentences ("Sister Mary Joseph nodule", "Austin Flint murmur" and one more). First and only run after the rules
  were written on the development set: 70 of 72 (97.2%), 0 eponym sentences flagged, IU-Xray unchanged (the same 8
  true positives). The two held-out misses, left as they are: "ms ferreira" (lower-case "ms" without a period
  is not taken as a title, since it is also multiple sclerosis) and a Greek name after "Discussed with" (that verb
  cue still expects a Latin capital after it; titles and labels accept any script).
- Clinical text kept: "10/11/12 ribs", "ribs 9-10-11", T10-T12, C5-6, "2 x 3 cm", grade 3/4, BI-RADS, lab panels,
  eponyms, PMIDs, literature URLs and the XXXX mark (`CLEAN_CASES`); on today's `main` the rib lists were dates.
"""

if __name__ == "__main__":
    main()
