"""VQA-RAD (Lau et al., Sci Data 2018) in the MEVF split: ``trainset.json``, ``testset.json`` and ``images/``.

Questions only (VQA-RAD has no reports). A CLOSED question whose answer is yes/no becomes task ``closed``; every
other question (including CLOSED "PA or AP?" choices) is ``open``. The MedPix "synpic" image id is kept in metadata:
19 of these images also appear in MedPix 2.0 (the same MedPix source image, cropped or sized differently).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import Question

SPLIT_FILES = {"train": "trainset.json", "test": "testset.json"}


def read_vqa_rad(
    source: Path, splits: tuple[str, ...] = ("train", "test"), image_dir: str = "images"
) -> Iterator[Item]:
    """VQA-RAD questions (one per QA pair, closed or open) with their images; the test split is queries only.

    Example:
        >>> dataset = read_source("data/vqa_rad", "vqa_rad")  # doctest: +SKIP
    """
    for split in splits:
        if split not in SPLIT_FILES:
            raise DataError(f"unknown VQA-RAD split {split!r}; use train or test")
        path = source / SPLIT_FILES[split]
        if not path.is_file():
            raise DataError(f"{path}: VQA-RAD split file missing; point the reader at the dataset folder")
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
        for number, entry in enumerate(entries, start=1):
            try:
                qid, image_name = entry["qid"], entry["image_name"]
                question, answer = str(entry["question"]).strip(), str(entry["answer"]).strip()
            except (KeyError, TypeError) as exc:
                yield DataError(f"{path}: entry {number} lacks field {exc}; skipped")
                continue
            yes_no = answer.lower().rstrip(".") in {"yes", "no"}
            closed = str(entry.get("answer_type", "")).upper() == "CLOSED"
            yield Question(
                id=f"vqa_rad:{qid}",
                question=question,
                answer=answer,
                image_path=str(source / image_dir / image_name),
                task="closed" if closed and yes_no else "open",
                domain="radiology",
                split=split,
                source="vqa_rad",
                metadata={
                    "answer_type": entry.get("answer_type"),
                    "question_type": entry.get("question_type"),
                    "organ": entry.get("image_organ"),
                    "source_image": Path(image_name).stem,
                    "phrase_type": entry.get("phrase_type"),
                },
            )


SPEC = ReaderSpec(
    name="vqa_rad",
    read=read_vqa_rad,
    detect=lambda path: path.is_dir() and (path / "testset.json").is_file() and (path / "trainset.json").is_file(),
    description="VQA-RAD folder: trainset.json, testset.json, images/ (questions)",
)
