"""Ingest a source into a JSONL manifest: read, check every image decodes, optionally redact, write atomically.

Streaming: items flow from the reader in bounded chunks, their images are decoded in a thread pool (PIL releases the
GIL while decoding), and the manifest is written as they go, so memory does not grow with the corpus. One bad item
is a one-line error in the summary; the rest is ingested. Items left out on purpose are counted by reason with a
few named examples; library warnings (pydicom's VR warnings, ...) are logged and filed under the file they concern
(:mod:`mmedrag.io.library_warnings`) instead of printed raw. Question-only datasets (VQA-RAD) become one record per
image, with the questions counted in its metadata, so they can be validated against knowledge bases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError, ImageError
from mmedrag.io.atomic import atomic_open
from mmedrag.io.images import DECODE_SIDE, load_image
from mmedrag.io.library_warnings import WarningCollector, reading
from mmedrag.io.manifest import MAX_TEXT_CHARS, duplicate_id_message
from mmedrag.io.readers import SkippedItem, iter_source
from mmedrag.progress import track
from mmedrag.types import Question, Record

_CHUNK = 64


@dataclass
class IngestReport:
    source: str
    format: str
    out: str
    written: int = 0
    questions: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    redacted: int = 0
    prior_sentences: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **vars(self),
            "error_count": len(self.errors),
            "warning_count": sum(len(messages) for messages in self.warnings.values()),
        }

    def skip(self, item: SkippedItem, examples: int = 3) -> None:
        """Count a skipped item under its reason, keeping the first few messages as named examples."""
        self.skipped += 1
        self.skipped_by_reason[item.reason] = self.skipped_by_reason.get(item.reason, 0) + 1
        kept = self.skipped_examples.setdefault(item.reason, [])
        if len(kept) < examples:
            kept.append(str(item))

    def count(self, record: Record) -> None:
        for key in ("domain", "modality", "split"):
            bucket = self.counts.setdefault(key, {})
            value = getattr(record, key) or "(none)"
            bucket[value] = bucket.get(value, 0) + 1


def _records_from_questions(questions: list[Question]) -> Iterator[Record]:
    """One image-only record per question image (its questions counted in metadata)."""
    by_image: dict[str, list[Question]] = {}
    for question in questions:
        if question.image_path:
            by_image.setdefault(question.image_path, []).append(question)
    for image_path, group in by_image.items():
        first = group[0]
        splits = sorted({q.split for q in group if q.split})
        # Keep only what is true of the image, i.e. metadata every question about it agrees on.
        shared = {k: v for k, v in first.metadata.items() if all(q.metadata.get(k) == v for q in group)}
        yield Record(
            id=f"{first.source or 'questions'}:{Path(image_path).stem}",
            image_paths=(image_path,),
            domain=first.domain,
            modality=first.modality,
            patient_id=first.patient_id,
            study_id=first.study_id,
            # An image asked about in a test question is test data, whatever else it is used for.
            split="test" if "test" in splits else (splits[0] if splits else None),
            source=first.source,
            metadata={**shared, "questions": len(group), "question_splits": splits},
        )


def _check(record: Record) -> str | None:
    """Why ``record`` cannot be ingested, or None."""
    if len(record.text) > MAX_TEXT_CHARS:
        return f"record {record.id}: text of {len(record.text):,} characters exceeds {MAX_TEXT_CHARS:,}; fix the export"
    for path in record.image_paths:
        try:
            with reading(path):
                load_image(path, max_side=DECODE_SIDE)  # decoded to check it; downscaled so workers stay small
        except ImageError as exc:
            return f"record {record.id}: {exc}"
    return None


def annotate_report(record: Record, drop_priors: bool = False) -> Record:
    """Report hygiene: parsed sections and the sentences that refer to prior studies go to metadata (a later stage
    can drop them: a model shown one image cannot know what changed since a prior, Ramesh et al. 2022); with
    ``drop_priors`` they are also removed from the text."""
    if not record.text.strip():
        return record
    from dataclasses import replace

    from mmedrag.quality.sections import drop_prior_references, mark_prior_references, parse_sections

    sections = parse_sections(record.text)
    marks = [mark for body in sections.values() for mark in mark_prior_references(body)]
    priors = [mark.sentence for mark in marks if mark.refers_to_prior]
    metadata = {**record.metadata, "sections": sections, "prior_sentences": priors}
    text = drop_prior_references(record.text) if drop_priors and priors else record.text
    return replace(record, text=text, metadata=metadata)


class _FirstIdWins:
    """DUPLICATE_ID_POLICY (io/manifest.py): the first record with an id is kept; each later one is an error."""

    def __init__(self, errors: list[str]) -> None:
        self.errors, self.count = errors, 0
        self.first: dict[str, int] = {}

    def __call__(self, record: Record) -> bool:
        self.count += 1
        if record.id not in self.first:
            self.first[record.id] = self.count
            return True
        message = duplicate_id_message(record.id, f"as record {self.first[record.id]} of the source")
        self.errors.append(f"record {self.count} of the source: {message}")
        return False


def _chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ingest(
    source: str | Path,
    out: str | Path,
    fmt: str = "auto",
    check_images: bool = True,
    redact: bool = False,
    hygiene: bool = True,
    drop_priors: bool = False,
    workers: int = 4,
    progress: bool = False,
    **options: Any,
) -> IngestReport:
    """Read ``source`` with a registered reader and write its records to the manifest ``out``.

    Args:
        redact: replace PHI-looking spans in report text and in every metadata string (Open-i findings, impression,
            indication, comparison, captions, any manifest field), before sections are parsed from the text, so the
            manifest, the index and search results never hold them (see :mod:`mmedrag.quality.phi`).
        hygiene: add parsed sections and prior-study sentences to each record's metadata.
        drop_priors: also remove the prior-study sentences from the text.

    Raises:
        DataError: nothing could be ingested (the previous manifest, if any, is left as it was).
    """
    started = time.perf_counter()
    report = IngestReport(source=str(source), format=fmt, out=str(out))
    questions: list[Question] = []
    redactor: Callable[[Record], Record] | None = None
    if redact:
        from mmedrag.quality.phi import redact_record

        redactor = redact_record

    unique = _FirstIdWins(report.errors)

    def records() -> Iterator[Record]:
        for item in iter_source(source, fmt, **options):
            if isinstance(item, Record):
                if unique(item):
                    yield item
            elif isinstance(item, Question):
                questions.append(item)
            elif isinstance(item, SkippedItem):
                report.skip(item)
            else:
                report.errors.append(str(item))
        report.questions = len(questions)
        yield from filter(unique, _records_from_questions(questions))

    collector = WarningCollector()
    with collector, atomic_open(out) as handle, ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in track(_chunks(records(), _CHUNK), "ingesting (chunks of 64)", enabled=progress):
            problems = pool.map(_check, chunk) if check_images else (None for _ in chunk)
            for record, problem in zip(chunk, problems, strict=True):
                if problem:
                    report.errors.append(problem)
                    continue
                kept = redactor(record) if redactor is not None else record
                report.redacted += kept is not record  # text or any metadata string changed
                if hygiene or drop_priors:
                    kept = annotate_report(kept, drop_priors)
                    report.prior_sentences += len(kept.metadata.get("prior_sentences", ()))
                handle.write(json.dumps(kept.to_dict(), ensure_ascii=False) + "\n")
                report.written += 1
                report.count(kept)
        if report.written == 0:
            first = report.errors[0] if report.errors else "the source holds no records"
            raise DataError(f"nothing to ingest from {source}: {first}")
    report.warnings = collector.by_item
    report.seconds = round(time.perf_counter() - started, 3)
    return report
