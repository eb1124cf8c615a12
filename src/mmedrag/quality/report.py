"""What :func:`~mmedrag.quality.validate.validate` found: problems per record, duplicate groups, counts.

``ValidationReport.to_dict`` is the ``--json`` output of ``mmedrag validate``; ``render`` is its text summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mmedrag.quality.phi import PhiSummary


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about one record: what is wrong, and the record, image and manifest line it concerns."""

    message: str
    record_id: str | None = None
    image: str | None = None
    manifest: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__ if getattr(self, key) is not None}

    def __str__(self) -> str:
        where = f"{self.manifest}:{self.line}: " if self.manifest and self.line else ""
        return f"{where}{self.record_id + ': ' if self.record_id else ''}{self.message}"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One image of one record, as a duplicate group lists it."""

    record_id: str
    image: str
    split: str
    source: str | None
    manifest: str | None
    line: int | None

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__slots__ if getattr(self, key) is not None}


@dataclass
class DuplicateGroup:
    """Images that are the same picture: pixel-identical (``exact``) or within the dHash distance (``near``)."""

    kind: str
    members: list[Occurrence]
    scopes: list[str]
    leakage: bool
    max_distance: int = 0
    min_similarity: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        data = {key: getattr(self, key) for key in ("kind", "scopes", "leakage", "max_distance", "min_similarity")}
        return data | {"members": [member.to_dict() for member in self.members]}


@dataclass
class ValidationReport:
    """What :func:`validate` found. ``ok`` is False on leakage, on anything that could not be read, and on PHI when
    the text was screened for it."""

    settings: dict[str, Any]
    records: int = 0
    images: int = 0
    unique_images: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    image_only: int = 0
    text_only: int = 0
    short_report_count: int = 0
    short_reports: list[Problem] = field(default_factory=list)
    empty: list[Problem] = field(default_factory=list)
    missing: list[Problem] = field(default_factory=list)
    unreadable: list[Problem] = field(default_factory=list)
    read_errors: list[Problem] = field(default_factory=list)
    duplicate_ids: list[Problem] = field(default_factory=list)
    exact_duplicates: list[DuplicateGroup] = field(default_factory=list)
    near_duplicates: list[DuplicateGroup] = field(default_factory=list)
    leakage: list[Problem] = field(default_factory=list)
    prior_reference_records: int = 0
    near_duplicate_candidates: int = 0
    warnings: list[str] = field(default_factory=list)
    phi: PhiSummary | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        phi_found = self.phi is not None and self.phi.found
        problems = self.leakage or self.missing or self.unreadable or self.read_errors or self.duplicate_ids
        return not (problems or phi_found)

    def to_dict(self) -> dict[str, Any]:
        problems = ("short_reports", "empty", "missing", "unreadable", "read_errors", "duplicate_ids", "leakage")
        data: dict[str, Any] = {"ok": self.ok, "settings": self.settings, "records": self.records}
        data |= {"images": self.images, "unique_images": self.unique_images, "image_only": self.image_only}
        data |= {"text_only": self.text_only, "short_report_count": self.short_report_count}
        data |= {"prior_reference_records": self.prior_reference_records, "seconds": round(self.seconds, 3)}
        data |= {"near_duplicate_candidates": self.near_duplicate_candidates, "warnings": self.warnings}
        data["counts"] = {name: dict(counter.most_common()) for name, counter in self.counts.items()}
        data |= {name: [p.to_dict() for p in getattr(self, name)] for name in problems}
        data["exact_duplicates"] = [group.to_dict() for group in self.exact_duplicates]
        data["near_duplicates"] = [group.to_dict() for group in self.near_duplicates]
        data["phi"] = self.phi.to_dict() if self.phi else None
        return data

    def render(self, limit: int = 5) -> str:
        """A short plain-text account for people; ``to_dict`` has everything."""
        lines = [
            f"{self.records} records, {self.images} images ({self.unique_images} files) in {self.seconds:.1f} s",
            *(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in c.most_common()) for name, c in self.counts.items()),
            f"reports: {self.image_only} image-only, {self.text_only} text-only, {self.short_report_count} short "
            f"(< {self.settings['min_report_words']} words), {len(self.empty)} empty, "
            f"{self.prior_reference_records} refer to prior studies",
        ]
        sections = (
            ("missing images", self.missing, len(self.missing)),
            ("unreadable images", self.unreadable, len(self.unreadable)),
            ("unreadable records", self.read_errors, len(self.read_errors)),
            ("leakage", self.leakage, len(self.leakage)),
            ("duplicate record ids", self.duplicate_ids, len(self.duplicate_ids)),
            ("short reports", self.short_reports, self.short_report_count),
        )
        for title, problems, count in sections:
            if problems:
                lines.append(f"{title}: {count}")
                lines += [f"  {problem}" for problem in problems[:limit]]
        for title, groups in (("exact duplicates", self.exact_duplicates), ("near duplicates", self.near_duplicates)):
            scopes = Counter(scope for group in groups for scope in group.scopes)
            lines.append(f"{title}: {len(groups)} groups" + "".join(f", {n} {s}" for s, n in scopes.most_common()))
            for group in groups[:limit]:
                names = ", ".join(f"{m.record_id} [{m.split}/{m.source}]" for m in group.members[:4])
                more = f" +{len(group.members) - 4}" if len(group.members) > 4 else ""
                distance = (
                    f" (<= {group.max_distance} bits, ncc >= {group.min_similarity})" if group.kind == "near" else ""
                )
                lines.append(f"  {'/'.join(group.scopes)}{distance}: {names}{more}")
        lines += [f"warning: {warning}" for warning in self.warnings]
        if self.phi is not None:
            found = ", ".join(f"{k} {v}" for k, v in self.phi.matches.most_common()) or "none"
            lines.append(f"PHI: {self.phi.records_with_phi} of {self.phi.records_scanned} records; {found}")
            for kind, examples in self.phi.examples.items():
                lines += [f"  {kind}: {e['record_id']} {e['field']}: {e['snippet']}" for e in examples[:limit]]
        lines.append("OK" if self.ok else "FAILED: leakage, duplicate ids, unreadable input or PHI (see above)")
        return "\n".join(lines)
