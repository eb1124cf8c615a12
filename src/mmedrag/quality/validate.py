"""Validate a corpus before indexing: unreadable images, short reports, duplicate images and train/test leakage.

Records stream through in bounded chunks while a thread pool decodes their images; what is kept per image is its
fingerprint and where it came from, so memory does not grow with the size of the pictures or the reports.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.errors import DataError
from mmedrag.io.manifest import duplicate_id_message
from mmedrag.quality.duplicates import (
    SHA_BYTES,
    Thumbnail,
    connected_groups,
    distance_counts,
    fingerprint,
    near_duplicate_pairs,
    similarity,
    thumbnail,
)
from mmedrag.quality.phi import PhiSummary
from mmedrag.quality.report import DuplicateGroup, Occurrence, Problem, ValidationReport
from mmedrag.quality.sections import mark_prior_references
from mmedrag.types import Question, Record

UNSET = "none"  # the split (and count label) of records that name none; pass it in kb_splits to treat them as KB
_VERIFY_CHUNK = 512  # candidate pairs verified together: bounds the thumbnails held at once
_WORD = re.compile(r"\b(?!X{2,}\b)\w+")  # IU-Xray "XXXX" de-identification marks are not words of the report


def _similarity(a: Thumbnail | None, b: Thumbnail | None) -> float:
    return similarity(a, b) if a is not None and b is not None else 0.0


def records_from_questions(questions: Iterable[Question]) -> list[Record]:
    """One image-only record per (image, split) of a VQA set, so that its images can be validated like a corpus.

    A split is kept apart: VQA-RAD asks about the same image in its train and test files, which is leakage.
    """
    grouped: dict[tuple[str, str | None], list[Question]] = {}
    for question in questions:
        if question.image_path:
            grouped.setdefault((question.image_path, question.split), []).append(question)
    records = []
    for (image_path, split), group in grouped.items():
        first = group[0]
        stem = Path(image_path).stem
        records.append(
            Record(
                id=f"{first.source or 'questions'}:{split + ':' if split else ''}{stem}",
                image_paths=(image_path,),
                domain=first.domain,
                modality=first.modality or next((q.modality for q in group if q.modality), None),
                patient_id=next((q.patient_id for q in group if q.patient_id), None),
                study_id=next((q.study_id for q in group if q.study_id), None),
                split=split,
                source=first.source,
                metadata={"questions": len(group), "source_image": stem},
            )
        )
    return records


def _iter_source(
    source: str | Path, errors: list[Problem], data_root: str | Path | None = None, fmt: str = "auto"
) -> Iterator[tuple[Record, str | None, int | None]]:
    """Records of a manifest (with line numbers; image paths confined to ``data_root``, default the manifest's
    folder) or of any dataset a reader knows (VQA sets become image records); ``fmt`` names the reader."""
    from mmedrag.io.manifest import ManifestError, iter_manifest_lines
    from mmedrag.io.readers import SkippedItem, detect_format, iter_source

    path = Path(source)
    if (detect_format(path) if fmt == "auto" else fmt) == "manifest":
        bad: list[ManifestError] = []
        for line, record in iter_manifest_lines(path, root=data_root, errors=bad, confine=True):
            errors.extend(Problem(e.detail, manifest=e.path, line=e.line) for e in bad)
            bad.clear()
            yield record, str(path), line
        errors.extend(Problem(e.detail, manifest=e.path, line=e.line) for e in bad)
        return
    questions: list[Question] = []
    for item in iter_source(path, fmt):
        if isinstance(item, Record):
            yield item, None, None
        elif isinstance(item, Question):
            questions.append(item)
        elif not isinstance(item, SkippedItem):
            errors.append(Problem(str(item), manifest=str(path)))
    for record in records_from_questions(questions):
        yield record, None, None


class _Validator:
    """The state of one validation run: per-record checks on arrival, image fingerprints as chunks decode."""

    def __init__(self, report: ValidationReport, kb: set[str], test: set[str], limits: tuple[int, int]) -> None:
        self.report, self.kb, self.test = report, kb, test
        self.max_examples, self.max_candidates = limits
        self.min_words = int(report.settings["min_report_words"])
        self.paths: dict[str, int] = {}  # image path -> unique image index: each file is decoded once
        self.fingerprints: list[bytes | None] = []  # 40 bytes per decoded image
        self.failures: dict[int, tuple[str, str]] = {}
        self.occurrences: list[list[Occurrence]] = []
        self.pending: list[str] = []
        self.ids: dict[str, str] = {}  # record id -> where it was first seen
        # (patient|study, value) -> (first KB occurrence, every test occurrence)
        self.keys: dict[tuple[str, str], tuple[list[Occurrence], list[Occurrence]]] = {}
        report.counts = {name: Counter() for name in ("split", "source", "domain", "modality")}

    def add(self, record: Record, manifest: str | None, line: int | None) -> None:
        report = self.report
        if record.id in self.ids:  # DUPLICATE_ID_POLICY (io/manifest.py): the first wins, later ones are errors
            message = duplicate_id_message(record.id, self.ids[record.id])
            report.duplicate_ids.append(Problem(message, record.id, None, manifest, line))
            return
        self.ids[record.id] = f"on {manifest}:{line}" if manifest else f"as record {report.records + 1}"
        report.records += 1
        split = record.split or UNSET
        for name, value in (("split", split), ("source", record.source), ("domain", record.domain)):
            report.counts[name][value or UNSET] += 1
        report.counts["modality"][record.modality or UNSET] += 1
        if report.phi is not None:  # the text and every metadata string: a report copied into metadata is PHI too
            report.phi.add(record.id, record.text, record.metadata)
        self._check_text(record, manifest, line)
        here = Occurrence(record.id, "", split, record.source, manifest, line)
        for kind, value in (("patient", record.patient_id), ("study", record.study_id)):
            role = 0 if split in self.kb else 1 if split in self.test else None
            if value and role is not None:
                kb, tests = self.keys.setdefault((kind, value), ([], []))
                if role == 1:
                    tests.append(here)
                elif not kb:
                    kb.append(here)
        for path in record.image_paths:
            report.images += 1
            index = self.paths.get(path)
            if index is None:
                index = self.paths[path] = len(self.fingerprints)
                self.fingerprints.append(None)
                self.occurrences.append([])
                self.pending.append(path)
            self.occurrences[index].append(Occurrence(record.id, path, split, record.source, manifest, line))

    def _check_text(self, record: Record, manifest: str | None, line: int | None) -> None:
        report, text = self.report, record.text
        if not text.strip():
            if record.image_paths:
                report.image_only += 1  # image-only corpora (VQA sets) are fine: counted, not an error
            else:
                report.empty.append(Problem("no text and no image", record.id, None, manifest, line))
            return
        if not record.image_paths:
            report.text_only += 1
        words = len(_WORD.findall(text))
        if words < self.min_words:
            report.short_report_count += 1
            if len(report.short_reports) < self.max_examples:
                message = f"report has {words} word(s): {text[:80]!r}"
                report.short_reports.append(Problem(message, record.id, None, manifest, line))
        if any(mark.refers_to_prior for mark in mark_prior_references(text)):
            report.prior_reference_records += 1

    def flush(self, pool: ThreadPoolExecutor) -> None:
        """Decode the images seen since the last flush, in parallel (PIL releases the GIL while decoding)."""
        for path, (status, value) in zip(self.pending, pool.map(fingerprint, self.pending), strict=True):
            index = self.paths[path]
            if status == "ok":
                self.fingerprints[index] = value  # type: ignore[assignment]
            else:
                self.failures[index] = (status, str(value))
        self.pending.clear()

    def finish(self, pool: ThreadPoolExecutor) -> None:
        report = self.report
        report.unique_images = len(self.fingerprints)
        for index, (status, message) in self.failures.items():
            target = report.missing if status == "missing" else report.unreadable
            target.extend(Problem(message, o.record_id, o.image, o.manifest, o.line) for o in self.occurrences[index])
        for (kind, value), (kb, tests) in self.keys.items():
            for test in tests if kb else ():  # every leaked test record, not one per patient or study
                message = f"{kind} {value!r} is in {kb[0].split} ({kb[0].record_id}) and in {test.split}"
                report.leakage.append(Problem(message, test.record_id, None, test.manifest, test.line))
        self._duplicates(pool)

    def _duplicates(self, pool: ThreadPoolExecutor) -> None:
        by_sha: dict[bytes, list[int]] = {}
        for index, value in enumerate(self.fingerprints):
            if value is not None:
                by_sha.setdefault(value[:SHA_BYTES], []).append(index)
        for indexes in by_sha.values():
            members = [o for i in indexes for o in self.occurrences[i]]
            if len(members) > 1:
                self.report.exact_duplicates.append(self._group("exact", members, 0, 1.0))
        shas = list(by_sha.values())  # one representative per distinct picture
        for group, distance, score in connected_groups(len(shas), self._near_edges(shas, pool)):
            members = [o for i in group for index in shas[i] for o in self.occurrences[index]]
            self.report.near_duplicates.append(self._group("near", members, distance, score))
        for groups in (self.report.exact_duplicates, self.report.near_duplicates):
            groups.sort(key=lambda g: (not g.leakage, "across sources" not in g.scopes, -len(g.members)))

    def _near_edges(self, shas: list[list[int]], pool: ThreadPoolExecutor) -> list[tuple[int, int, int, float]]:
        """dHash candidates within the bit budget, confirmed by thumbnail correlation, in bounded chunks."""
        report = self.report
        bits, threshold = (
            int(report.settings["near_duplicate_bits"]),
            float(report.settings["near_duplicate_similarity"]),
        )
        hashes = np.array([int.from_bytes(self._fingerprint(ix[0])[SHA_BYTES:], "big") for ix in shas], np.uint64)
        within = np.cumsum(distance_counts(hashes, bits))
        usable = int(np.searchsorted(within, self.max_candidates, side="right")) - 1
        if usable < bits:  # similar-looking corpora (all chest films) can propose millions of pairs
            report.warnings.append(
                f"{int(within[-1])} near-duplicate candidates at <= {bits} bits exceed the budget of "
                f"{self.max_candidates}; searched at <= {usable} bits"
            )
        if usable < 0:
            return []
        first, second, distance = near_duplicate_pairs(hashes, usable)
        report.near_duplicate_candidates = len(first)
        pairs = list(zip(first.tolist(), second.tolist(), distance.tolist(), strict=True))
        if threshold <= 0:
            return [(i, j, d, 1.0) for i, j, d in pairs]
        edges = []
        for start in range(0, len(pairs), _VERIFY_CHUNK):
            chunk = pairs[start : start + _VERIFY_CHUNK]
            needed = sorted({k for i, j, _ in chunk for k in (i, j)})
            paths = [self.occurrences[shas[k][0]][0].image for k in needed]
            thumbs = dict(zip(needed, pool.map(thumbnail, paths), strict=True))
            scores = pool.map(_similarity, [thumbs[i] for i, _, _ in chunk], [thumbs[j] for _, j, _ in chunk])
            edges += [(i, j, d, score) for (i, j, d), score in zip(chunk, scores, strict=True) if score >= threshold]
        return edges

    def _fingerprint(self, index: int) -> bytes:
        fingerprint = self.fingerprints[index]
        assert fingerprint is not None  # only decoded images are grouped
        return fingerprint

    def _group(self, kind: str, members: list[Occurrence], distance: int, score: float) -> DuplicateGroup:
        splits, sources = {m.split for m in members}, {m.source for m in members}
        scopes = ["within split" if len(splits) == 1 else "across splits"]
        scopes += ["across sources"] if len(sources) > 1 else []
        scopes += ["same file"] if len({m.image for m in members}) == 1 else []
        leak = bool(splits & self.kb) and bool(splits & self.test)
        if leak:  # every test member of the group leaks, not only the first
            kb = next(m for m in members if m.split in self.kb)
            for test in (m for m in members if m.split in self.test):
                message = f"{kind} duplicate image of {kb.record_id} ({kb.split}) in {test.split}"
                self.report.leakage.append(Problem(message, test.record_id, test.image, test.manifest, test.line))
        return DuplicateGroup(kind, members, scopes, leak, distance, round(score, 4))


def validate(
    sources: Iterable[str | Path | Record],
    *,
    kb_splits: Sequence[str] = ("train",),
    test_splits: Sequence[str] = ("val", "test"),
    min_report_words: int = 5,
    near_duplicate_bits: int = 6,
    near_duplicate_similarity: float = 0.95,
    workers: int = 4,
    progress: bool = False,
    phi: bool = False,
    max_examples: int = 20,
    max_near_candidates: int = 20_000,
    chunk_size: int = 256,
    data_root: str | Path | None = None,
    fmt: str = "auto",
) -> ValidationReport:
    """Check a corpus for unreadable images, short reports, duplicate images and KB/test leakage.

    Args:
        sources: manifest files, dataset folders any reader knows (VQA sets become one record per image and split),
            or records; they may be mixed.
        kb_splits: splits that make up the knowledge base; records without a split count as split ``"none"``.
        test_splits: splits evaluated against the knowledge base; the same patient, study or image in both is
            leakage (the leakage guard of method.md excludes a query's own study at retrieval time; this finds it in
            the data).
        min_report_words: reports with fewer words (de-identification marks not counted) are listed as short.
        near_duplicate_bits: dHash Hamming distance up to which two files are candidate copies (re-crop, resize,
            re-compression); 6 of 64 bits reaches the re-cropped MedPix image in VQA-RAD.
        near_duplicate_similarity: thumbnail correlation a candidate needs to count as a copy
            (:func:`~mmedrag.quality.duplicates.similarity`); 0 keeps every dHash candidate.
        workers: image-decoding threads.
        progress: show a progress bar on stderr.
        phi: also screen report text and every metadata string for identifiers
            (:class:`~mmedrag.quality.phi.PhiSummary`); any found makes the report not ``ok``.
        max_examples: short reports listed (all are counted).
        max_near_candidates: candidate pairs verified at most; above it the bit threshold is lowered, with a warning.
        chunk_size: images decoded per batch; bounds the memory held by images in flight.
        data_root: the folder manifest image paths must stay in (default: each manifest's folder); lines that
            point outside it (``../``, absolute paths, symlinks) are read errors.
        fmt: the reader for every source path (``auto``: detected for each).
    """
    from mmedrag.errors import ConfigError
    from mmedrag.progress import track

    if set(kb_splits) & set(test_splits):
        raise ConfigError(f"splits {sorted(set(kb_splits) & set(test_splits))} are both knowledge base and test")
    if not 0 <= near_duplicate_bits <= 64:
        raise ConfigError(f"--near-duplicate-bits must be within 0..64, got {near_duplicate_bits}")
    started = time.perf_counter()
    settings: dict[str, Any] = {"kb_splits": list(kb_splits), "test_splits": list(test_splits)}
    settings |= {"min_report_words": min_report_words, "near_duplicate_bits": near_duplicate_bits}
    settings |= {"near_duplicate_similarity": near_duplicate_similarity}
    report = ValidationReport(settings=settings, phi=PhiSummary() if phi else None)
    state = _Validator(report, set(kb_splits), set(test_splits), (max_examples, max_near_candidates))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        stream = _records(sources, report.read_errors, data_root, fmt)
        for record, manifest, line in track(stream, "validating", _total(sources) if progress else None, progress):
            state.add(record, manifest, line)
            if len(state.pending) >= chunk_size:
                state.flush(pool)
        state.flush(pool)
        state.finish(pool)
    report.seconds = time.perf_counter() - started
    return report


def _total(sources: Iterable[str | Path | Record]) -> int | None:
    """Records to expect, for the progress bar: known for records and JSONL files (one per non-empty line)."""
    if not isinstance(sources, Sequence):
        return None
    total = 0
    for source in sources:
        if isinstance(source, Record):
            total += 1
        elif str(source).endswith(".jsonl") and Path(source).is_file():
            with Path(source).open("rb") as handle:
                total += sum(1 for raw in handle if raw.strip())
        else:
            return None
    return total


def _records(
    sources: Iterable[str | Path | Record],
    errors: list[Problem],
    data_root: str | Path | None = None,
    fmt: str = "auto",
) -> Iterator[tuple[Record, str | None, int | None]]:
    for source in sources:
        if isinstance(source, Record):
            yield source, None, None
        elif isinstance(source, str | os.PathLike):
            yield from _iter_source(source, errors, data_root, fmt)
        else:
            raise DataError(f"cannot validate a {type(source).__name__}; pass manifest paths, folders or records")


__all__ = ["DuplicateGroup", "Occurrence", "Problem", "ValidationReport", "records_from_questions", "validate"]
