"""Regenerate ``src/mmedrag/quality/phi_names.py``: the given-name lexicon of the PHI screen.

Given names come from Faker's person providers for the en_US, en_GB, en_IE and es_ES locales (Faker is MIT licensed;
its en_US lists follow US Census / SSA name frequencies). Names that are also ordinary English or clinical words are
dropped (``ENGLISH`` below), so that "May", "Will" or "Grace" at the start of a sentence do not read as a person.
The de_DE, nl_NL, fr_FR and it_IT lists are left out on purpose: ``bench_phi.py`` draws held-out names from them.

Run:  .venv/bin/python benchmarks/make_phi_names.py    (needs the dev extra: faker)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "en_GB", "en_IE", "es_ES")
# Given names that are common words, months, or radiology vocabulary ("Kerley" is not here: it is no given name).
_ENGLISH_WORDS = """
    may will mark bill grace hope joy faith dawn rose june april august summer autumn winter page chase lane rich frank
    sterling gene guy ray art drew dean pat sue max jack penny ruby amber crystal iris ivy holly heather daisy lily
    violet hazel jade pearl sky river brook brooks glen dale clay stone wood cliff reed young king earl duke prince
    major sharp wade miles noble grant norm pierce royal rusty sandy sunny misty destiny harmony melody trinity angel
    genesis heaven journey patience precious serenity star storm eden hunter parker carter mason cole cooper price
    case long west north south east white black brown green gray grey bell hall hill rock rocky colt lance bishop
    sage rowan autumn ash aspen august honor justice liberty haven true bear blue gay worth sol salud luz paz mar
    pilar rosario consuelo dolores amparo remedios socorro milagros nieves sierra rio cruz angeles asuncion pura
    soledad sol gloria victoria trinidad reina amada perla ciro tadeo eusebio bruno fidel ramiro marina esperanza
    lourdes mercedes rocio luna cielo paloma ambar alba ana lorena estrella clara blanca flor cleo tate kit
    kay van della lee lord mae ann anne marie jean joan joe jo don ben dan ed al per mallory
"""
ENGLISH = set(_ENGLISH_WORDS.split())


def given_names() -> list[str]:
    names: set[str] = set()
    for locale in LOCALES:
        provider = Faker(locale).provider("faker.providers.person")
        for attribute in ("first_names", "first_names_female", "first_names_male"):
            names.update(getattr(provider, attribute, ()) or ())
    return sorted(n for n in names if n.isalpha() and len(n) > 2 and n.lower() not in ENGLISH)


def main() -> None:
    names = given_names()
    body = textwrap.fill(" ".join(names), width=112)
    target = Path(__file__).resolve().parents[1] / "src" / "mmedrag" / "quality" / "phi_names.py"
    target.write_text(
        '"""Given names the PHI screen treats as the start of a person\'s name (generated: do not edit by hand).\n\n'
        f"{len(names)} names from Faker's {', '.join(LOCALES)} person providers (MIT), less common English words;\n"
        'regenerate with ``benchmarks/make_phi_names.py``.\n"""\n\n'
        "from __future__ import annotations\n\n"
        f'_NAMES = """\n{textwrap.indent(body, "    ")}\n"""\n'
        "GIVEN_NAMES: frozenset[str] = frozenset(_NAMES.split())\n",
        encoding="utf-8",
    )
    print(f"{len(names)} names -> {target}")


if __name__ == "__main__":
    main()
