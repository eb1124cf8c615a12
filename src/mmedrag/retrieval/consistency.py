"""Reference consistency: a retrieved case about another part of the body, or from another kind of imaging, than
the query never becomes a reference.

MMed-RAG's references are other patients' reports chosen by image similarity (method.md §2); similarity alone lets
a humerus lesion answer a question about the liver. The query's body region comes from its question (the organs
and regions it names) and its DICOM header (Body Part Examined); its imaging family from its modality (the
caller's, else the DICOM Modality) or its domain. A reference's come from ``Record.modality``/``Record.domain``,
its metadata (Body Part Examined, a dataset's location or organ field) and its report text. Only a clear
contradiction sets a reference aside: regions that one study cannot show together (:func:`mmedrag.anatomy.compatible`)
or imaging of two domains (a CT query, a fundus photograph reference). Whatever is unknown never drops anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mmedrag.anatomy import compatible, metadata_regions, region_words
from mmedrag.domains import MODALITIES, normalize_modality
from mmedrag.errors import MmedragError
from mmedrag.io.dicom import read_dicom_header
from mmedrag.io.images import is_dicom
from mmedrag.types import Hit, Query, Record

# Metadata fields that name a body region: DICOM's tag (kept by the DICOM reader), MedPix's "location", VQA-RAD's
# "organ", and the generic names a manifest may use.
REGION_FIELDS: tuple[str, ...] = ("BodyPartExamined", "body_part", "body_region", "location", "organ", "anatomy")


@dataclass(frozen=True)
class Profile:
    """What one side (query or reference) says about its body region and imaging family, with the evidence."""

    regions: frozenset[str]
    evidence: tuple[str, ...]  # the words or fields the regions came from
    family: str | None  # the domain of its imaging ("radiology", "ophthalmology", ...), None when unknown
    modality: str | None


def _family(modality: str | None, domain: str | None) -> str | None:
    if modality in MODALITIES:
        return MODALITIES[modality][0]
    return domain if domain and domain != "other" else None


def _profile(
    texts: Sequence[str],
    metadata: Mapping[str, object],
    modality: str | None,
    domain: str | None,
    dominant: bool = False,
) -> Profile:
    """The regions the metadata and texts name. ``dominant`` (a reference's report): metadata regions when the record
    has any, else only the region(s) its report names most, so that a passing word ("sigmoid sinus", "femoral
    head") does not make a head or knee case look like an abdominal one."""
    found = metadata_regions(metadata, REGION_FIELDS)
    evidence = [f"{key}={metadata[key]}" for key in found]
    words: dict[str, frozenset[str]] = {}
    for text in texts:
        words.update(region_words(text))
    if dominant and found:
        words = {}
    elif dominant and words:
        counts = Counter(region for regions in words.values() for region in regions)
        top = max(counts.values())
        words = {word: regions for word, regions in words.items() if any(counts[r] == top for r in regions)}
        words = {word: frozenset(r for r in regions if counts[r] == top) for word, regions in words.items()}
    found |= words
    evidence.extend(word for word in words if word not in evidence)
    regions = frozenset().union(*found.values())
    return Profile(regions, tuple(evidence), _family(modality, domain), modality)


def query_profile(query: Query) -> Profile:
    """The query's region (its question, its DICOM Body Part Examined) and imaging family."""
    header: dict[str, str] = {}
    if query.image_path and is_dicom(query.image_path):
        try:
            header = read_dicom_header(query.image_path)
        except MmedragError:
            header = {}  # an unreadable header says nothing; the image loader reports the file itself
    modality = query.modality or normalize_modality(header.get("Modality"))
    return _profile([query.text], header, modality, query.domain)


def record_profile(record: Record) -> Profile:
    """The reference's region (its metadata fields and report text) and imaging family."""
    return _profile([record.text], record.metadata, normalize_modality(record.modality), record.domain, dominant=True)


def _names(regions: frozenset[str]) -> str:
    return ", ".join(region.replace("_", " ") for region in sorted(regions))


def contradiction(query: Profile, reference: Profile) -> str | None:
    """Why the reference cannot speak to the query, or None when nothing contradicts."""
    if query.family and reference.family and query.family != reference.family:
        return (
            f"modality: the query is {query.modality or query.family} ({query.family}), "
            f"the reference {reference.modality or reference.family} ({reference.family})"
        )
    if not compatible(query.regions, reference.regions):
        return (
            f"body region: the query is about {_names(query.regions)} ({', '.join(query.evidence)}), "
            f"the reference about {_names(reference.regions)} ({', '.join(reference.evidence[:6])})"
        )
    return None


def screen(query: Query, hits: Sequence[Hit]) -> tuple[list[Hit], list[dict[str, str]]]:
    """The hits that do not contradict the query, in their order, and ``{id, reason}`` for each one set aside."""
    if not hits:
        return [], []
    asked = query_profile(query)
    kept: list[Hit] = []
    dropped: list[dict[str, str]] = []
    for hit in hits:
        reason = contradiction(asked, record_profile(hit.record))
        if reason is None:
            kept.append(hit)
        else:
            dropped.append({"id": hit.record.id, "reason": reason})
    return kept, dropped
