"""The medical vocabulary mmedrag routes on: domains, their modalities, the specialist role and image nouns.

Roles follow the reference prompts (method.md §6: "You are a professional radiologist/ophthalmologist/pathologist").
Modality names are normalised so that "CT - noncontrast", "CT" and DICOM's "CT" all filter the same.
"""

from __future__ import annotations

from mmedrag.errors import ConfigError

DOMAINS: tuple[str, ...] = ("radiology", "ophthalmology", "pathology", "dermatology", "endoscopy", "other")

OUT_OF_SCOPE = "out_of_scope"
"""The reserved class for inputs that are not medical images (charts, screenshots, photos). Never a domain; it is
the domain an answer reports when the router abstained."""

ROLES: dict[str, str] = {
    "radiology": "radiologist",
    "ophthalmology": "ophthalmologist",
    "pathology": "pathologist",
    "dermatology": "dermatologist",
    "endoscopy": "gastroenterologist",
    "other": "physician",
}

# Canonical modality -> (domain, noun used in prompts).
MODALITIES: dict[str, tuple[str, str]] = {
    "xray": ("radiology", "X-ray image"),
    "ct": ("radiology", "CT image"),
    "mri": ("radiology", "MRI image"),
    "ultrasound": ("radiology", "ultrasound image"),
    "mammography": ("radiology", "mammogram"),
    "nuclear": ("radiology", "nuclear medicine image"),
    "fundus": ("ophthalmology", "fundus image"),
    "oct": ("ophthalmology", "OCT image"),
    "histopathology": ("pathology", "pathology image"),
    "dermoscopy": ("dermatology", "dermoscopy image"),
    "endoscopy": ("endoscopy", "endoscopy image"),
}

# Aliases seen in datasets and DICOM Modality (PS3.3 C.7.3.1.1.1): CR/DX/DR are projection radiography.
_ALIASES: dict[str, str] = {
    "x-ray": "xray",
    "x ray": "xray",
    "cxr": "xray",
    "cr": "xray",
    "dx": "xray",
    "dr": "xray",
    "radiograph": "xray",
    "plain film": "xray",
    "rg": "xray",
    "mr": "mri",
    "magnetic resonance": "mri",
    "us": "ultrasound",
    "ct scan": "ct",
    "mg": "mammography",
    "nm": "nuclear",
    "pt": "nuclear",
    "pet": "nuclear",
    "op": "fundus",
    "slo": "fundus",
    "opt": "oct",
    "sm": "histopathology",
    "wsi": "histopathology",
    "pathology": "histopathology",
    "histology": "histopathology",
    "es": "endoscopy",
    "derm": "dermoscopy",
    "xc": "dermoscopy",
}

_DEFAULT_NOUN = {
    "radiology": "radiology image",
    "ophthalmology": "eye image",
    "pathology": "pathology image",
    "dermatology": "skin image",
    "endoscopy": "endoscopy image",
    "other": "medical image",
}


def check_domain(domain: str) -> str:
    """Return ``domain`` lower-cased, or raise naming the known domains."""
    value = domain.strip().lower()
    if value not in DOMAINS:
        raise ConfigError(f"unknown domain {domain!r}; use one of: {', '.join(DOMAINS)}")
    return value


def check_modality(value: str) -> str:
    """A query's modality, canonical (aliases such as ``CR`` or ``MR`` included), or raise naming the known ones:
    an unknown value would silently turn the modality checks off."""
    modality = normalize_modality(value)
    if modality not in MODALITIES:
        raise ConfigError(
            f"unknown modality {value!r}; use one of: {', '.join(MODALITIES)} (or an alias: CR, MR, US...)"
        )
    return modality


def normalize_modality(value: str | None) -> str | None:
    """Map a free-text or DICOM modality to a canonical name; unknown values are kept, lower-cased."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    if text in MODALITIES:
        return text
    if text in _ALIASES:
        return _ALIASES[text]
    head = text.replace("_", " ").split(" - ")[0].split("(")[0].strip()  # "CT - noncontrast", "MR - T2 weighted"
    if head in MODALITIES:
        return head
    return _ALIASES.get(head, text)


def image_noun(domain: str, modality: str | None) -> str:
    """What to call the image in a prompt, e.g. "chest X-ray image" is left to the question; this says "X-ray image"."""
    if modality in MODALITIES:
        return MODALITIES[modality][1]
    return _DEFAULT_NOUN.get(domain, "medical image")
