"""Open-i / IU-Xray chest X-ray reports (Demner-Fushman et al., JAMIA 2016; CC BY-NC-ND 4.0) from the NLMCXR XML.

Streams the XML files straight out of ``NLMCXR_reports.tgz`` (nothing is extracted to disk) or reads a folder of
them. FINDINGS and IMPRESSION stay apart in the metadata; images are joined only when an ``image_dir`` is given.
"""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec, SkippedItem
from mmedrag.types import Record

REDACTED = "[REDACTED]"
# The de-identification placeholder is "XXXX", glued to words ("x-XXXX", "XXXXyo") and in runs ("XXXX XXXX").
_PLACEHOLDER = re.compile(r"X{4,}(?:\s+X{4,})*")
_SECTIONS = ("findings", "impression", "indication", "comparison")
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def normalize_report_text(text: str | None) -> str:
    """Whitespace collapsed and each run of the ``XXXX`` placeholder replaced by one ``[REDACTED]`` token."""
    return _PLACEHOLDER.sub(REDACTED, " ".join((text or "").split()))


def report_text(findings: str, impression: str) -> str:
    """``FINDINGS: ...`` and ``IMPRESSION: ...`` on their own lines, leaving out an absent section."""
    parts = [f"FINDINGS: {findings}" if findings else "", f"IMPRESSION: {impression}" if impression else ""]
    return "\n".join(part for part in parts if part)


def parse_report(handle: IO[bytes]) -> dict[str, Any]:
    """The fields of one NLMCXR XML report: uid, the four sections, MeSH labels, image ids and captions.

    Raises:
        ET.ParseError: the XML is malformed.
    """
    # xml.etree on CPython >= 3.7.1 (expat >= 2.4) refuses entity-expansion bombs; the archive is trusted data anyway.
    root = ET.parse(handle).getroot()
    uid_node = root.find("uId")
    sections = {
        (node.get("Label") or "").lower(): normalize_report_text(node.text) for node in root.iter("AbstractText")
    }
    mesh = root.find("MeSH")
    images = [node for node in root.findall("parentImage") if node.get("id")]
    return {
        "uid": uid_node.get("id", "") if uid_node is not None else "",
        **{name: sections.get(name, "") for name in _SECTIONS},
        "mesh_major": [normalize_report_text(n.text) for n in (mesh if mesh is not None else []) if n.tag == "major"],
        "mesh_automatic": [
            normalize_report_text(n.text) for n in (mesh if mesh is not None else []) if n.tag == "automatic"
        ],
        "image_ids": [str(node.get("id")) for node in images],
        "image_captions": {str(node.get("id")): normalize_report_text(node.findtext("caption")) for node in images},
        "license_url": (root.findtext("licenseURL") or "").strip(),
    }


def _iter_xml(source: Path) -> Iterator[tuple[str, IO[bytes] | DataError]]:
    """``(name, open file)`` for each XML report in an archive (streamed, ``r|*``) or a folder, in order."""
    if source.is_dir():
        for path in sorted(source.rglob("*.xml"), key=lambda p: (len(p.name), p.name)):
            with path.open("rb") as handle:
                yield str(path), handle
        return
    try:
        with tarfile.open(source, mode="r|*") as archive:
            for member in archive:
                if not (member.isfile() and member.name.endswith(".xml")):
                    continue
                member_file = archive.extractfile(member)
                if member_file is not None:
                    yield f"{source}:{member.name}", member_file
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield str(source), DataError(f"{source}: archive cannot be read further ({exc}); re-download it")


def _find_images(image_dir: Path, image_ids: list[str]) -> tuple[str, ...]:
    """Existing ``<image_dir>/<id>.png|.jpg`` files; else the R2Gen layout ``<image_dir>/<id minus -NNNN>/*.png``."""
    found = [
        str(path)
        for image_id in image_ids
        for path in (image_dir / f"{image_id}{suffix}" for suffix in _IMAGE_SUFFIXES)
        if path.is_file()
    ]
    if found:
        return tuple(dict.fromkeys(found))
    folders = dict.fromkeys(image_id.rsplit("-", 1)[0] for image_id in image_ids)
    return tuple(
        str(path)
        for folder in folders
        if (image_dir / folder).is_dir()
        for path in sorted((image_dir / folder).iterdir())
        if path.suffix.lower() in _IMAGE_SUFFIXES
    )


def _archive_in(folder: Path) -> Path | None:
    return next((p for p in sorted(folder.iterdir()) if p.name.lower().endswith(_ARCHIVE_SUFFIXES)), None)


def read_openi(source: Path, image_dir: str | Path | None = None) -> Iterator[Item]:
    """Read the IU-Xray reports from the NLMCXR archive, a folder holding it, or a folder of the XML files.

    Args:
        source: ``NLMCXR_reports.tgz``, its folder, or a folder of ``*.xml`` reports (``ecgen-radiology/``).
        image_dir: folder of the Open-i images (``<image id>.png``, or R2Gen's ``<study>/<n>.png``); reports
            whose images are all absent stay text-only.

    Yields:
        A radiology/xray Record per report (id ``openi:CXR<n>``, study ``CXR<n>``); a SkippedItem for a report with
        neither FINDINGS nor IMPRESSION; a DataError for a malformed file.
    """
    if source.is_dir() and not any(source.rglob("*.xml")):
        archive = _archive_in(source)
        if archive is None:
            raise DataError(f"{source}: no NLMCXR_reports.tgz and no *.xml reports; point the reader at either")
        source = archive
    images_root = Path(image_dir).expanduser() if image_dir is not None else None
    if images_root is not None and not images_root.is_dir():
        raise DataError(f"{images_root}: image_dir is not a folder")
    for name, handle in _iter_xml(source):
        if isinstance(handle, DataError):
            yield handle
            continue
        try:
            report = parse_report(handle)
        except ET.ParseError as exc:
            yield DataError(f"{name}: malformed XML ({exc}); skipped")
            continue
        uid = report["uid"]
        if not uid:
            yield DataError(f"{name}: no <uId id=...>; skipped")
            continue
        text = report_text(report["findings"], report["impression"])
        if not text:
            yield SkippedItem(f"{name}: report {uid} has neither FINDINGS nor IMPRESSION", "no FINDINGS or IMPRESSION")
            continue
        paths = _find_images(images_root, report["image_ids"]) if images_root is not None else ()
        yield Record(
            id=f"openi:{uid}",
            text=text,
            image_paths=paths,
            domain="radiology",
            modality="xray",
            study_id=uid,
            source="openi",
            metadata={"report_file": name.rsplit(":", 1)[-1]} | report,
        )


def _detect(path: Path) -> bool:
    if path.is_file():
        return path.name.lower().endswith(_ARCHIVE_SUFFIXES) and "nlmcxr" in path.name.lower()
    if not path.is_dir():
        return False
    if any(p.name.lower().startswith("nlmcxr") and p.name.lower().endswith(_ARCHIVE_SUFFIXES) for p in path.iterdir()):
        return True
    first = next(iter(sorted(path.glob("*.xml"))), None) or next(iter(sorted(path.glob("*/*.xml"))), None)
    if first is None:
        return False
    with first.open("rb") as handle:
        return b"<eCitation" in handle.read(512)


SPEC = ReaderSpec(
    name="openi",
    read=read_openi,
    detect=_detect,
    description="Open-i / IU-Xray NLMCXR reports: NLMCXR_reports.tgz, its folder, or a folder of XML (image_dir=)",
)
