"""Mine preference pairs from the model's own behaviour (MMed-RAG's RAG-PT and RULE's KBPT; method.md §5).

On a split disjoint from the knowledge base, every question is answered four ways, greedily: clean image without
references (a), noise image without references (b), clean image with the references retrieved for it (c), and
noise image with those same references (d). Judged correct or not, they give the pair types:

* ``cross_modality`` (RAG-PT 1): c and d both correct — the model answered without looking at the image. Chosen:
  clean image + RAG prompt; rejected: noise image + the same prompt and d's answer.
* ``retrieval_hurts`` (RAG-PT 3, RULE's over-reliance pairs): a correct, c wrong. Chosen vs c's answer, RAG prompt.
* ``retrieval_helps`` (RAG-PT 2): a wrong, c correct. Chosen vs a's answer (made without retrieval), RAG prompt.
* ``stage1`` (the reference code's first stage): a correct, b wrong. No-reference prompt; rejected on noise.

Chosen text is the ground truth or the model's own correct answer (``chosen="model"``; the reference VQA data
used the model's, its report data the ground truth, §5.1.2). Cross-modality pairs are subsampled to ``ratio`` times
the helps+hurts pairs (the reference used 0.5 with ``random.seed(42)``). Noise images are seeded per question and
saved beside the pairs, so training sees exactly the images that were mined (the reference regenerated unseeded
noise every epoch, §11 item 13).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mmedrag.errors import ConfigError, DataError
from mmedrag.evaluation.judges import Judge
from mmedrag.evaluation.reliance import noise_image
from mmedrag.io.atomic import atomic_write_json
from mmedrag.pipeline import Planned, RAGPipeline
from mmedrag.progress import batches, track
from mmedrag.retrieval.context import TopK
from mmedrag.types import Answer, Question

PAIR_TYPES = ("cross_modality", "retrieval_helps", "retrieval_hurts", "stage1")


@dataclass(frozen=True)
class MiningSettings:
    k: int = 1  # the reference preference data always used one reference (method.md §5.1.2, issue #22)
    chosen: Literal["model", "ground_truth"] = "model"
    ratio: float | None = 0.5  # cross-modality pairs per (helps + hurts) pair; None keeps all
    stage1: bool = False
    seed: int = 42
    batch_size: int = 16


@dataclass
class MiningReport:
    out: str
    questions: int
    accuracy: dict[str, float] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _assistant(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def _messages(answer: Answer) -> list[dict[str, Any]]:
    return list(answer.trace.get("prompt", {}).get("messages") or [])


def _pair(
    question: Question,
    kind: str,
    prompt_from: Answer,
    chosen: str,
    rejected: str,
    images: list[str],
    rejected_images: list[str] | None,
) -> dict[str, Any]:
    return {
        "id": f"{question.id}:{kind}",
        "pair_type": kind,
        "prompt": _messages(prompt_from),
        "chosen": _assistant(chosen),
        "rejected": _assistant(rejected),
        "images": images,
        "rejected_images": rejected_images,
        "question_id": question.id,
        "domain": prompt_from.domain,
        "meta": {"gold": question.answer, "references": prompt_from.citations},
    }


def _chosen_text(question: Question, own: Answer, settings: MiningSettings) -> str:
    return own.text if settings.chosen == "model" else question.answer


def mine_question(
    question: Question, runs: dict[str, Answer], judge: Judge, settings: MiningSettings, image: str, noise: str
) -> list[dict[str, Any]]:
    """The pairs one question yields, from its four answers ``a`` (clean), ``b`` (noise), ``c`` (clean + refs) and
    ``d`` (noise + refs)."""
    right = {name: judge.correct(question.task, answer.text, question.answer) for name, answer in runs.items()}
    a, b, c, d = (runs[name] for name in "abcd")
    pairs = []
    if right["c"] and right["d"] and c.context.k:
        pairs.append(
            _pair(question, "cross_modality", c, _chosen_text(question, c, settings), d.text, [image], [noise])
        )
    if right["a"] and not right["c"] and c.context.k:
        pairs.append(_pair(question, "retrieval_hurts", c, _chosen_text(question, a, settings), c.text, [image], None))
    if right["c"] and not right["a"] and c.context.k:
        pairs.append(_pair(question, "retrieval_helps", c, _chosen_text(question, c, settings), a.text, [image], None))
    if settings.stage1 and right["a"] and not right["b"]:
        pairs.append(_pair(question, "stage1", a, _chosen_text(question, a, settings), b.text, [image], [noise]))
    return pairs


def balance(pairs: list[dict[str, Any]], ratio: float | None, seed: int) -> list[dict[str, Any]]:
    """Keep at most ``ratio`` x (helps + hurts) cross-modality pairs, chosen with a seeded RNG."""
    if ratio is None:
        return pairs
    cross = [p for p in pairs if p["pair_type"] == "cross_modality"]
    others = [p for p in pairs if p["pair_type"] != "cross_modality"]
    helps_hurts = sum(p["pair_type"] in {"retrieval_helps", "retrieval_hurts"} for p in others)
    keep = random.Random(seed).sample(cross, min(len(cross), int(ratio * helps_hurts)))
    kept_ids = {p["id"] for p in keep}
    return [p for p in pairs if p["pair_type"] != "cross_modality" or p["id"] in kept_ids]


def _four_runs(pipeline: RAGPipeline, planned: list[Planned], k: int, seed: int) -> dict[str, list[Answer]]:
    """MMed-RAG's four runs (method.md §5.1.2): without/with the k retrieved references, on the image and on noise."""
    noisy = [
        replace(p, query=replace(p.query, image=noise_image(p.query.image.size, f"{seed}:{p.query.id}")))
        for p in planned
        if p.query.image is not None
    ]
    with_k = pipeline.with_selector(TopK(k))
    return {
        "a": pipeline.respond([p.without_retrieval() for p in planned]),
        "b": pipeline.respond([p.without_retrieval() for p in noisy]),
        "c": with_k.respond(planned),
        "d": with_k.respond(noisy),
    }


def mine_preferences(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    out_dir: str | Path,
    settings: MiningSettings | None = None,
    judge: Judge | None = None,
    progress: bool = False,
) -> MiningReport:
    """Write ``prefs.jsonl``, ``noise/*.png`` and ``summary.json`` to ``out_dir`` (all or nothing).

    Raises:
        DataError: a question without an image (pairs need one), or questions drawn from the knowledge base itself.
    """
    settings, judge = settings or MiningSettings(), judge or Judge()
    check_minable(pipeline, questions)

    def mine(folder: Path) -> MiningReport:
        pairs, correct = mine_pairs(pipeline, questions, folder, settings, judge, progress)
        return write_mining(folder, pairs, correct, len(questions), settings)

    return in_place_of(Path(out_dir), mine)


def check_minable(pipeline: RAGPipeline, questions: Sequence[Question]) -> None:
    """Raise unless ``pipeline`` retrieves and every question has an image (pairs need one)."""
    if pipeline.default.retriever is None and not pipeline.bundles:
        raise ConfigError("mining needs a retriever (an index): three of the four runs use references")
    missing = [q.id for q in questions if not q.image_path]
    if missing:
        raise DataError(f"{len(missing)} question(s) have no image (e.g. {missing[:3]}); preference pairs need one")


def in_place_of(out: Path, fill: Callable[[Path], MiningReport]) -> MiningReport:
    """Run ``fill`` on a staging folder beside ``out`` and put it in ``out``'s place whole (none on failure)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        report = fill(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)  # the folder appears whole; noise paths inside it are relative, so they stay valid
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.out = str(out)
    return report


def mine_pairs(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    folder: Path,
    settings: MiningSettings,
    judge: Judge,
    progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every pair the questions yield (not yet balanced), in question order, and each run's correct answers; the
    noise images go to ``folder/noise``."""
    pipeline = pipeline.leaning()
    (folder / "noise").mkdir(parents=True, exist_ok=True)
    pairs: list[dict[str, Any]] = []
    correct = dict.fromkeys("abcd", 0)
    chunks = batches(list(questions), settings.batch_size)
    for chunk in track(chunks, "mining preferences", total=len(chunks), enabled=progress):
        planned = pipeline.plan([q.to_query() for q in chunk])
        leaked = [
            q.id
            for q, p in zip(chunk, planned, strict=True)
            if q.split is not None and any(h.record.split == q.split for h in p.hits)
        ]
        if leaked:
            raise DataError(
                f"questions {leaked[:3]} retrieve records of their own split: mine on a split disjoint "
                "from the knowledge base (method.md §7.5)"
            )
        runs = _four_runs(pipeline, planned, settings.k, settings.seed)
        for row, (question, item) in enumerate(zip(chunk, planned, strict=True)):
            four = {name: answers[row] for name, answers in runs.items()}
            for name, answer in four.items():
                correct[name] += judge.correct(question.task, answer.text, question.answer)
            noise = f"noise/{_safe(question.id)}.png"  # relative to prefs.jsonl
            assert item.query.image is not None
            noise_image(item.query.image.size, f"{settings.seed}:{question.id}").save(folder / noise)
            pairs.extend(mine_question(question, four, judge, settings, str(question.image_path), noise))
    return pairs, correct


def write_mining(
    folder: Path, pairs: list[dict[str, Any]], correct: dict[str, int], questions: int, settings: MiningSettings
) -> MiningReport:
    """Balance ``pairs`` (seeded) and write ``prefs.jsonl`` and ``summary.json`` to ``folder``."""
    found = {kind: sum(p["pair_type"] == kind for p in pairs) for kind in PAIR_TYPES}
    kept = balance(pairs, settings.ratio, settings.seed)
    with (folder / "prefs.jsonl").open("w", encoding="utf-8") as handle:
        for pair in kept:
            handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    report = MiningReport(
        out=str(folder),
        questions=questions,
        accuracy={
            f"{name} ({label})": correct[name] / max(questions, 1)
            for name, label in zip("abcd", ("clean", "noise", "clean + refs", "noise + refs"), strict=True)
        },
        found=found,
        written={kind: sum(p["pair_type"] == kind for p in kept) for kind in PAIR_TYPES},
        settings=vars(settings),
    )
    atomic_write_json(folder / "summary.json", report.to_dict())
    return report


def _safe(identifier: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in identifier)
