"""The MMed-RAG / RULE JSON formats (method.md §7): retriever splits, the report test set and the VQA test files.

* ``retriever_{train,val}.json`` / ``report_test.json``: a JSON list of ``{id, report, image_path: [...], split,
  image_root?}`` -> records. The split comes from the file's role (train = knowledge base, val = preference mining
  and calibration, test = evaluation; method.md §7.5): RULE's val file says ``"split": "train"`` inside.
* ``vqa_test*.jsonl``: ``{question_id, question, answer, image, text, report, reference_reports?}`` -> questions.

Image paths: the reference files bake an absolute ``image_root`` of the authors' machine into each entry (method.md
§11 item 19). A configured ``image_root`` always wins; then the entry's own; then the file's folder.
IU-Xray ids look like ``CXR3030_IM-1405``: the ``CXR3030`` part is the study, used by the leakage guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import Question, Record

_ROLE_BY_NAME = (
    ("retriever_train", "train"),
    ("retriever_val", "val"),
    ("report_test", "test"),
    ("_train", "train"),
    ("_val", "val"),
    ("_test", "test"),
)
_STUDY = re.compile(r"^(CXR\d+)_")


def _split_of(path: Path) -> str | None:
    return next((split for marker, split in _ROLE_BY_NAME if marker in path.stem), None)


def _study_of(identifier: str) -> str | None:
    match = _STUDY.match(identifier)
    return match.group(1) if match else None


def _resolve(path: str, entry_root: Any, image_root: Path | None, file_dir: Path) -> str:
    root = image_root if image_root is not None else Path(entry_root) if entry_root else file_dir
    return str(root / path)


def clean_question(text: str) -> str:
    """Drop the LLaVA ``<image>`` placeholder and surrounding whitespace from a reference question."""
    return " ".join(text.replace("<image>", " ").split())


def _read_report_list(path: Path, data: list[Any], image_root: Path | None) -> Iterator[Item]:
    split = _split_of(path)
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or "conversations" in entry:
            raise DataError(f"{path}: entry {number} is a preference pair, not a report; use it with `mmedrag prefs`")
        report = entry.get("report") or entry.get("caption") or entry.get("gpt4_summary")
        identifier = str(entry.get("id") or "")
        if not identifier or not isinstance(report, str) or not report.strip():
            yield DataError(f"{path}: entry {number} has no id or no report text; skipped")
            continue
        views = entry.get("image_path") or entry.get("image") or []
        views = [views] if isinstance(views, str) else list(views)
        yield Record(
            id=f"iuxray:{identifier}" if _study_of(identifier) else identifier,
            text=report.strip(),
            image_paths=tuple(_resolve(view, entry.get("image_root"), image_root, path.parent) for view in views),
            domain="radiology",
            modality="xray" if _study_of(identifier) else None,
            study_id=_study_of(identifier),
            split=split or entry.get("split"),
            source=path.stem,
            metadata={key: entry[key] for key in ("subject_id", "study_id") if key in entry},
        )


def _read_questions(path: Path, image_root: Path | None) -> Iterator[Item]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                qid, image = entry["question_id"], entry["image"]
                question, answer = clean_question(entry["question"]), str(entry["answer"]).strip()
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                yield DataError(f"{path}:{number}: malformed question ({exc}); skipped")
                continue
            study = image.split("/")[0]
            metadata: dict[str, Any] = {"gold_report": entry.get("report")}
            if "reference_reports" in entry:
                metadata["reference_reports"] = list(entry["reference_reports"])
            yield Question(
                id=f"iuxray:q{qid}",
                question=question,
                answer=answer,
                image_path=_resolve(image, entry.get("image_root"), image_root, path.parent),
                task="closed",
                domain="radiology",
                modality="xray",
                study_id=_study_of(study) or study,
                split="test",
                source=path.stem,
                metadata=metadata,
            )


def read_mmed_rag(source: Path, image_root: str | Path | None = None) -> Iterator[Item]:
    """Read one MMed-RAG/RULE file, or every known file in a folder of them."""
    root = Path(image_root) if image_root is not None else None
    if source.is_dir():
        files = sorted(source.glob("retriever_*.json")) + sorted(source.glob("report_test*.json"))
        files += [source / "vqa_test.jsonl"] if (source / "vqa_test.jsonl").is_file() else []
    else:
        files = [source]
    for path in files:
        if path.suffix == ".jsonl":
            yield from _read_questions(path, root)
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of reports (MMed-RAG format), got {type(data).__name__}")
        yield from _read_report_list(path, data, root)


def _looks_like_reference_json(path: Path) -> bool:
    """A JSON list whose first entry has a report (or caption) and an image path, as the reference files do."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    first = data[0] if isinstance(data, list) and data else None
    return (
        isinstance(first, dict)
        and bool({"report", "caption", "gpt4_summary"} & set(first))
        and ("image_path" in first or "image" in first)
    )


def _detect(path: Path) -> bool:
    if path.is_file():
        if path.name.startswith(("retriever_", "report_test", "vqa_test")):
            return True
        return path.suffix == ".json" and _looks_like_reference_json(path)
    return path.is_dir() and (any(path.glob("retriever_*.json")) or (path / "vqa_test.jsonl").is_file())


SPEC = ReaderSpec(
    name="mmed_rag",
    read=read_mmed_rag,
    detect=_detect,
    description="MMed-RAG / RULE JSON: retriever_*.json, report_test.json, vqa_test*.jsonl (or their folder)",
)
