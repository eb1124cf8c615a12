"""Regenerate ``src/mmedrag/quality/phi_names.py``: the given-name lexicon of the PHI screen.

Given names come from Faker's person providers for the locales in ``LOCALES`` (Faker is MIT licensed; its en_US
lists follow US Census / SSA name frequencies). Names that are also ordinary words are dropped: those in ``ENGLISH``
below, and those written in lower case in the MedPix 2.0 case texts (../shared/data/medpix2), so that "May", "Will"
or "Grace" at the start of a sentence do not read as a person. The sv_SE, fi_FI, tr_TR, cs_CZ and hu_HU lists are
left out on purpose: ``bench_phi.py`` draws its unseen-locale names from them.

Run:  .venv/bin/python benchmarks/make_phi_names.py    (needs the dev extra: faker)
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "es_ES", "es_MX", "de_DE", "fr_FR", "it_IT", "nl_NL", "pt_BR", "pl_PL")
# Given names that are common words, months, or radiology vocabulary ("Kerley" is not here: it is no given name).
_ENGLISH_WORDS = """
    may will june april august bill art case long white black brown green gray grey bell hall hill rock sharp young
    king major true blue star storm angel genesis north south east west price page chase lane stone wood cliff reed
    clay dale glen brook river sky summer autumn winter prince duke earl noble max rich frank iris ray gene dale
    royal sage worth bear gay lord van della kit al per mallory sol mar rio cruz pura luna alba flor salud sierra
    angeles socorro remedios amparo nieves cielo
"""
ENGLISH = set(_ENGLISH_WORDS.split())


def radiology_words() -> set[str]:
    """Lower-case words of the MedPix 2.0 case texts (not the benchmark's IU-Xray): a given name used as an ordinary
    word there ("mark", "grace", "hope", "will") would flag clinical sentences."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "medpix2" / "Case_topic.json"
    if not path.is_file():
        return set()
    text = re.sub(r"\S*(?:www\.|https?:|@|\.com|\.org|\.edu|\.gov|\.htm)\S*", " ", path.read_text(encoding="utf-8"))
    counts = Counter(re.findall(r"(?<![A-Za-z])[a-z]+(?![A-Za-z])", text))  # URLs left out: "richard" in a link
    return {word for word, count in counts.items() if count >= 2}


def given_names() -> list[str]:
    names: set[str] = set()
    common = ENGLISH | radiology_words()
    for locale in LOCALES:
        provider = Faker(locale).provider("faker.providers.person")
        for attribute in ("first_names", "first_names_female", "first_names_male"):
            names.update(getattr(provider, attribute, ()) or ())
    return sorted(n for n in names if n.isalpha() and len(n) > 2 and n.lower() not in common)


def main() -> None:
    names = given_names()
    body = textwrap.fill(" ".join(names), width=112)
    target = Path(__file__).resolve().parents[1] / "src" / "mmedrag" / "quality" / "phi_names.py"
    target.write_text(
        '"""Given names the PHI screen treats as the start of a person\'s name (generated: do not edit by hand).\n\n'
        f"{len(names)} names from Faker's person providers (MIT) for {len(LOCALES)} locales, less ordinary words;\n"
        'regenerate with ``benchmarks/make_phi_names.py``.\n"""\n\n'
        "from __future__ import annotations\n\n"
        f'_NAMES = """\n{textwrap.indent(body, "    ")}\n"""\n'
        "GIVEN_NAMES: frozenset[str] = frozenset(_NAMES.split())\n",
        encoding="utf-8",
    )
    print(f"{len(names)} names -> {target}")


if __name__ == "__main__":
    main()
