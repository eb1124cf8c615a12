"""Medical eponyms, which the PHI screen must not take for people: "Austin Flint murmur", "Sister Mary Joseph nodule".

Two tests. A name-shaped run followed by the noun of an eponym (a sign, murmur, nodule, fracture, syndrome, ...;
optionally after a type letter or numeral: "Kerley B lines", "Le Fort II fracture", "Chiari I malformation") is an
eponym. So is one of the multi-word eponyms in :data:`EPONYMS`, which are also written without their noun ("an
Austin Flint", "Osgood-Schlatter"). The names come from the standard eponym catalogues of radiology and clinical
examination (Radiopaedia's "eponymous signs" and "eponymous fractures" lists; Firkin & Whitworth, Dictionary of
Medical Eponyms).
"""

from __future__ import annotations

import re

_NOUNS = """
    sign signs murmur murmurs nodule nodules node nodes fracture fractures fracture-dislocation injury lesion lesions
    syndrome disease diseases tumor tumour tumors sarcoma lymphoma carcinoma triad pentad tetrad palsy paralysis
    hernia diverticulum diverticula line lines spot spots point pouch fascia capsule fat ligament canal duct
    malformation anomaly deformity encephalopathy test maneuver manoeuvre respiration breathing sulcus infraction
    zones zone calcification cyst cysts triangle tear hump phenomenon reflex classification criteria score scale
    space body bodies cell cells gallbladder effect law view projection position method procedure operation repair
    shunt catheter tube needle incision ring rings sclerosis aneurysm fistula ulcer ulcers angle area gland glands
"""
NOUN = re.compile(r"^(?:'s)?\s*(?:(?:type\s+)?(?:[A-C]|I{1,3}|IV|V)\s+)?(?:(?i:" + "|".join(_NOUNS.split()) + r"))\b")
_EPONYM_TEXT = """
    Sister Mary Joseph | Mary Joseph | Austin Flint | Graham Steell | Carey Coombs | Grey Turner | Cheyne-Stokes |
    Osgood-Schlatter | Legg-Calve-Perthes | Legg-Calvé-Perthes | Legg-Perthes | Dandy-Walker | Budd-Chiari |
    Arnold-Chiari | Mallory-Weiss | Hill-Sachs | Pellegrini-Stieda | Salter-Harris | Essex-Lopresti | Holstein-Lewis |
    Swyer-James | Mounier-Kuhn | Sinding-Larsen-Johansson | Sinding-Larsen | Wolff-Parkinson-White | Guillain-Barre |
    Guillain-Barré | Creutzfeldt-Jakob | Ehlers-Danlos | Klippel-Feil | Klippel-Trenaunay | Peutz-Jeghers |
    Osler-Weber-Rendu | Sturge-Weber | von Hippel-Lindau | Hippel-Lindau | Stevens-Johnson | Zollinger-Ellison |
    Waterhouse-Friderichsen | Brown-Sequard | Brown-Séquard | Charcot-Marie-Tooth | Hand-Schuller-Christian |
    Letterer-Siwe | Niemann-Pick | Tay-Sachs | Kasabach-Merritt | Beckwith-Wiedemann | Wernicke-Korsakoff |
    Lambert-Eaton | Kimmelstiel-Wilson | Marchiafava-Bignami | Fitz-Hugh-Curtis | Rendu-Osler-Weber |
    Bland-White-Garland |
    Cruveilhier-Baumgarten | Erdheim-Chester | Rosai-Dorfman | Kikuchi-Fujimoto | Bouveret | Le Fort | Mary Joseph
"""
EPONYMS = frozenset(item.strip().lower() for item in _EPONYM_TEXT.replace("\n", " ").split("|") if item.strip())


def is_eponym(text: str, start: int, end: int) -> bool:
    """Whether the name-shaped span ``text[start:end]`` is part of a medical eponym."""
    if NOUN.match(text[end : end + 40]):
        return True
    name = " ".join(text[start:end].split()).lower()
    before = text[max(0, start - 12) : start].lower()
    return name in EPONYMS or f"{before.split()[-1] if before.split() else ''} {name}".strip() in EPONYMS
