"""Plain data types shared by every stage: records, queries, hits, prompts, generations and answers.

They carry data only; behaviour lives in the modules that produce or consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image

Task = Literal["closed", "open", "report"]
TASKS: tuple[Task, ...] = ("closed", "open", "report")

Grade = Literal["supported", "inferred", "weak", "abstained", "out_of_scope"]
"""How well the evidence supports an answer (see :mod:`mmedrag.generation.grading`):

* ``supported``: a cited sentence states the answer about the asked structure;
* ``inferred``: the silence of a complete report *of the query's own study or patient*;
* ``weak``: only similar cases' silence, or cited sentences that disagree, or a generator's answer no reference
  states;
* ``abstained``: no answer (nothing to go on, or the policy declined a weak one);
* ``out_of_scope``: the image is not one the knowledge base can speak to (chart, photo, screenshot, noise).
"""
GRADES: tuple[Grade, ...] = ("supported", "inferred", "weak", "abstained", "out_of_scope")

Message = dict[str, Any]
"""A chat message in the transformers / OpenAI shape: ``{"role": ..., "content": [{"type": "text", ...}, ...]}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """What a knowledge-base case and a benchmark question both carry about where they come from: ``patient_id``
    and ``study_id`` drive the leakage guard, ``domain``/``modality``/``split``/``source`` the filters, and
    ``metadata`` keeps source-specific fields that no stage relies on (keyword-only, after each type's own fields)."""

    domain: str | None = None
    modality: str | None = None
    patient_id: str | None = None
    study_id: str | None = None
    split: str | None = None
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Record(Provenance):
    """One knowledge-base case: a report or caption with the image(s) it describes.

    Every dataset reader maps into this type. ``image_paths`` may list several views of one study.
    """

    id: str
    text: str = ""
    image_paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_paths"] = list(self.image_paths)
        data["metadata"] = dict(self.metadata)
        return data

    @property
    def first_line(self) -> str:
        """The first non-empty line of the text, for listings."""
        for line in self.text.splitlines():
            if line.strip():
                return line.strip()
        return ""


RECORD_FIELDS: tuple[str, ...] = tuple(Record.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Query:
    """A question (or report request) about one image.

    ``domain`` set by the caller wins over any router. ``patient_id``/``study_id``/``image_sha256`` let the retriever
    exclude the query's own study from the results (leakage guard). Request options are data too:
    ``max_references`` caps the references the generator sees, after any selector (calibrated included), and
    ``retrieval=False`` answers without retrieval (what the generator says alone).
    """

    text: str = ""
    image: Image.Image | None = None
    image_path: str | None = None
    task: Task | None = None
    domain: str | None = None
    modality: str | None = None
    patient_id: str | None = None
    study_id: str | None = None
    id: str | None = None
    max_references: int | None = None
    retrieval: bool = True


@dataclass(frozen=True, slots=True)
class Exclusion:
    """The leakage guard for one query, as every index applies it (method.md §11 item 14): never a record of the
    query's patient or study, one holding the query image itself (its pixel SHA-256), or one in ``records`` (near
    copies of the query image, found by :class:`mmedrag.retrieval.near_duplicates.NearDuplicateGuard`)."""

    patient_id: str | None = None
    study_id: str | None = None
    image_sha256: tuple[str, ...] = ()
    records: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved record with its similarity score (higher is better, always)."""

    record: Record
    score: float
    rank: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    """The references a generator will see, with the selector's account of why these and not others."""

    hits: tuple[Hit, ...] = ()
    trace: Mapping[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.hits)


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference as rendered into a prompt: its number, record id and the (possibly truncated) text."""

    number: int
    record_id: str
    text: str
    score: float
    truncated: bool = False
    own: bool = False
    """The reference describes the query's own study or patient (same ``study_id`` or ``patient_id``), as the gold
    report does in the IU-Xray gold setting: only such a report's silence may answer a question."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rendered prompt plus the structured parts it was built from (the extractive generator reads these)."""

    messages: tuple[Message, ...]
    images: tuple[Image.Image, ...]
    task: Task
    question: str
    domain: str
    references: tuple[Reference, ...] = ()
    trace: Mapping[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    """Name of the generator adapter (e.g. a domain's LoRA) that should answer; None for the base model."""
    knowledge: tuple[KnownConcept, ...] = ()
    """The ontology concepts the question names (shown in the prompt's knowledge block; the extractive reader
    reads a question's plain words as the technical term reports use)."""

    @property
    def text(self) -> str:
        """All text parts joined: what a text-only view of the prompt shows."""
        parts: list[str] = []
        for message in self.messages:
            content = message["content"]
            if isinstance(content, str):
                parts.append(content)
                continue
            parts.extend(part["text"] for part in content if part.get("type") == "text")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class KnownConcept:
    """A concept of an open ontology that a question names (:mod:`mmedrag.kg`), and how.

    ``matched`` is the question's phrase; ``technical`` the word reports use for it (the concept's name, or the
    technical word a definition glosses: "tortuous" for "twisted"); ``relation`` how the phrase reached the concept
    (``name``, ``synonym``, ``layperson``, ``gloss``).
    """

    id: str
    name: str
    matched: str
    relation: str
    technical: str
    definition: str = ""
    parents: tuple[str, ...] = ()
    source: str = ""

    @property
    def rewrites(self) -> bool:
        """Whether the question's phrase is plain words for a technical term (a gloss or a layperson synonym)."""
        return self.relation in {"gloss", "layperson"} and self.matched.lower() != self.technical.lower()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "matched": self.matched,
            "relation": self.relation,
            "technical": self.technical,
            "definition": self.definition,
            "parents": list(self.parents),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Generation:
    """A generator's output for one prompt."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    yes_probability: float | None = None
    confidence: float | None = None
    """The generator's own, uncalibrated probability that its answer is right: P(yes)/P(no) of a VLM, token
    log-probabilities, or the extractive answerer's vote share; None when it has no such number."""
    meta: Mapping[str, Any] = field(default_factory=dict)


UNKNOWN = "unknown"
"""The answer text of an abstention: the generator found no support, or the pipeline declined to answer."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The pipeline's answer with the cases it relied on and a trace of every stage."""

    text: str
    domain: str
    task: Task
    context: Context
    prompt_tokens: int = 0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    trace: Mapping[str, Any] = field(default_factory=dict)
    yes_probability: float | None = None
    grade: Grade = "abstained"
    confidence: float | None = None
    """Probability that the answer is right: calibrated when the pipeline has a fitted calibrator
    (``confidence_calibrated``), else the generator's raw number; None for abstentions and out-of-scope."""
    confidence_calibrated: bool = False
    note: str = ""
    """One plain sentence for a reader on the grade: why it abstained, what the evidence is, what was not given."""

    @property
    def citations(self) -> list[dict[str, Any]]:
        return [{"id": hit.record.id, "score": round(hit.score, 6)} for hit in self.context.hits]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "domain": self.domain,
            "task": self.task,
            "k": self.context.k,
            "grade": self.grade,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "confidence_calibrated": self.confidence_calibrated,
            "note": self.note,
            "citations": self.citations,
            "prompt_tokens": self.prompt_tokens,
            "yes_probability": self.yes_probability,
            "timings_ms": {name: round(ms, 3) for name, ms in self.timings_ms.items()},
            "trace": dict(self.trace),
        }


@dataclass(frozen=True, slots=True)
class Question(Provenance):
    """A question with its gold answer, as benchmark files provide them (VQA-RAD, the MMed-RAG IU-Xray tests)."""

    id: str
    question: str
    answer: str
    image_path: str | None
    task: Task

    def to_query(self, image: Image.Image | None = None) -> Query:
        """The query this question asks, carrying its patient and study for the leakage guard."""
        return Query(
            text=self.question,
            image=image,
            image_path=self.image_path,
            task=self.task,
            domain=self.domain,
            modality=self.modality,
            patient_id=self.patient_id,
            study_id=self.study_id,
            id=self.id,
        )


# Probe embeddings of one encoder agree to float rounding; a retrained or different encoder falls far below.
_MATCH_COSINE = 0.999


@dataclass(frozen=True)
class Fingerprint:
    """What an index records about its encoder; compare with :meth:`mismatch`."""

    kind: str
    name: str
    dim: int
    text_probe: tuple[float, ...] | None = None
    image_probe: tuple[float, ...] | None = None
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "dim": self.dim,
            "text_probe": list(self.text_probe) if self.text_probe else None,
            "image_probe": list(self.image_probe) if self.image_probe else None,
            "spec": self.spec,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            kind=data["kind"],
            name=data["name"],
            dim=int(data["dim"]),
            text_probe=tuple(data["text_probe"]) if data.get("text_probe") else None,
            image_probe=tuple(data["image_probe"]) if data.get("image_probe") else None,
            spec=dict(data.get("spec") or {}),
        )

    def mismatch(self, other: Fingerprint, partial: bool = False) -> str | None:
        """Why ``other`` is not the same encoder as this one, or None when it is; ``partial``: ``other`` probed
        only some modalities (:func:`~mmedrag.encoders.base.fingerprint_of` ``modalities``), and a probe it lacks
        is not compared."""
        if self.dim != other.dim:
            return f"dimension {other.dim} != {self.dim}"
        for label, mine, theirs in (
            ("text", self.text_probe, other.text_probe),
            ("image", self.image_probe, other.image_probe),
        ):
            if partial and theirs is None:
                continue
            if (mine is None) != (theirs is None):
                return f"{label} support differs"
            if mine is not None and theirs is not None:
                cosine = float(np.dot(np.asarray(mine), np.asarray(theirs)))
                if cosine < _MATCH_COSINE:
                    return f"{label} embeddings differ (probe cosine {cosine:.4f})"
        return None
