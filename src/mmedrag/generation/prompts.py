"""Prompt templates for closed (yes/no) VQA, open VQA and report generation, with a domain role and numbered
references that carry their record ids.

The wording is our own, with the meaning of the reference prompts (method.md §6): the model is a specialist of the
image's domain, it answers from the image, and retrieved reports of other patients are for comparison only, never the
basis of the diagnosis. References are added in rank order inside a token budget; the trace says what was cut.

Order: the image, the role, the references and the caution come first; the task instruction and the question come
last. Prompts about one image and one reference set then share a long token prefix, which the local generator
prefills once per group (:mod:`mmedrag.generation.prefix_cache`) and vLLM's prefix cache reuses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from mmedrag.domains import ROLES, image_noun
from mmedrag.generation.negation import stem, words
from mmedrag.types import Context, KnownConcept, Message, Prompt, Query, Record, Reference, Task

_CLOSED_START = re.compile(
    r"^(is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b", re.I
)
# A question that points at the image: a determiner, at most two words ("this chest X-ray", "the above image",
# "this a PA film"), then an image noun. On VQA-RAD's training questions this is how 1 in 6 is phrased ("Is there
# a mass in this image?"), on the MMed-RAG IU-Xray set 4 in 5 ("... on the chest X-ray?"). Another study ("the
# prior film", "the previous X-ray") is not this image.
_IMAGE_NOUN = (
    r"images?|films?|scans?|radiographs?|pictures?|photos?|photographs?|study|x-?rays?|slices?|views?|ct|mri|mr|"
    r"ultrasound|sonogram|mammogram|angiogram"
)
_IMAGE_REFERENCE = re.compile(rf"\b(?:this|these|the)\s+((?:[\w-]+\s+){{0,2}}?)(?:{_IMAGE_NOUN})\b", re.I)
_OTHER_STUDY = frozenset("prior previous earlier last old older comparison preceding past former initial".split())  # noqa: SIM905
_REPORT_REQUEST = re.compile(r"\b(generate|write|produce|draft)\b.*\breport\b|^\s*(describe|report)\b", re.I)

CAUTION = (
    "The reference reports describe other patients' images. Use them only for reference and comparison; "
    "they must not be taken as the basis of the diagnosis for this image."
)
INSTRUCTIONS: dict[Task, str] = {
    "closed": "Answer the question based on the image, choosing one of two options: yes or no.",
    "open": "Answer the question based on the image, briefly and precisely.",
    "report": "Write the report for this image. Include only the content of the report in your response.",
}


def infer_task(question: str) -> Task:
    """``report`` for an empty text or a report request, ``closed`` for a yes/no question, else ``open``."""
    text = question.strip()
    if not text or _REPORT_REQUEST.search(text):
        return "report"
    return "closed" if _CLOSED_START.match(text) else "open"


def same_case(query: Query, record: Record) -> bool:
    """Whether ``record`` describes the query's own study or patient: only then may its silence answer."""
    return bool(
        (query.study_id and record.study_id == query.study_id)
        or (query.patient_id and record.patient_id == query.patient_id)
    )


def refers_to_image(question: str) -> bool:
    """Whether the question asks about "this image" (film, scan, radiograph, picture, study...), so that without an
    image it cannot be answered: a text-only retrieval would answer about other patients' images instead."""
    return any(not _OTHER_STUDY & set(m.group(1).lower().split()) for m in _IMAGE_REFERENCE.finditer(question))


# Report markup (HTML exports, MedPix pages): script and style blocks go with their content, other tags alone.
# A tag starts with a letter, "/" or "!", so "<5 mm" and "< 2 cm" stay text.
_MARKUP_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<!--.*?-->|</?[a-z][^<>]*>|<![^<>]*>", re.I | re.S)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")


def clean_reference(text: str) -> str:
    """One line per reference, as plain text: markup is removed (entities decoded first, so an escaped tag goes
    too), then newlines and runs of spaces collapse (as RULE's MIMIC prompts do, method.md §6.2)."""
    if "<" in text or "&" in text:
        plain = _TAG.sub(" ", _MARKUP_BLOCK.sub(" ", html.unescape(text)))
        if plain != text:  # "<b>effusion</b>." reads "effusion.", not "effusion ."
            text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", plain)
    return " ".join(text.split())


class ConceptFinder(Protocol):
    """Finds the ontology concepts a question names (:class:`mmedrag.kg.graph.ConceptGraph`)."""

    def find(self, text: str, limit: int = 3) -> list[KnownConcept]: ...


def understood_question(
    question: str, knowledge: Sequence[KnownConcept], references: Sequence[Reference] | None = None
) -> str:
    """The question with its plain words read as the technical terms reports use ("Is the aorta twisted?" ->
    "Is the aorta tortuous?"), from the concepts' glosses and layperson synonyms. With ``references``, only where
    the reports use the technical term and not the question's words ("dilated" stays "dilated", which reports say,
    though an ontology glosses "ectatic" with it)."""
    said = {stem(word) for reference in references or () for word in words(reference.text)}
    for concept in knowledge:
        if not concept.rewrites or concept.matched not in question:
            continue
        if references is not None:
            plain, technical = {stem(w) for w in words(concept.matched)}, {stem(w) for w in words(concept.technical)}
            if plain <= said or not technical & said:
                continue
        question = question.replace(concept.matched, concept.technical.lower(), 1)
    return question


def understood(prompt: Prompt) -> str:
    """The prompt's question as a report reader reads it (:func:`understood_question` against its references)."""
    return understood_question(prompt.question, prompt.knowledge, prompt.references)


def knowledge_lines(knowledge: Sequence[KnownConcept]) -> list[str]:
    """The prompt's knowledge block (MEDMKG / KG-LLaVA style): each asked concept's definition and parents."""
    if not knowledge:
        return []
    lines = [f"Background knowledge ({knowledge[0].source or 'ontology'}):"]
    for concept in knowledge:
        line = f"- {concept.name} ({concept.id})"
        if concept.definition:
            line += f": {concept.definition}"
        if concept.parents:
            line += f" A kind of: {', '.join(concept.parents)}."
        if concept.rewrites:
            line += f' "{concept.matched}" in the question is "{concept.technical}" in reports.'
        lines.append(line)
    return lines


@dataclass(frozen=True)
class PromptBuilder:
    """Builds a :class:`~mmedrag.types.Prompt` from a query and its selected context.

    Args:
        max_reference_tokens: budget for all reference texts together (counted with the generator's tokenizer).
        min_reference_tokens: a reference cut shorter than this is dropped instead of kept as a stub.
        knowledge: finds the ontology concepts a question names; their definitions go before the references, in at
            most ``max_knowledge_tokens`` (None: no knowledge block).

    Example:
        >>> prompt = PromptBuilder().build(Query(text="Is there a pleural effusion?"), Context(), "radiology")
        >>> prompt.task
        'closed'
    """

    max_reference_tokens: int = 1024
    min_reference_tokens: int = 16
    knowledge: ConceptFinder | None = field(default=None, compare=False)
    max_knowledge_tokens: int = 160

    def _known(self, question: str, counter: Callable[[str], int]) -> tuple[KnownConcept, ...]:
        """The concepts of the question whose knowledge block fits ``max_knowledge_tokens`` (first ones kept)."""
        found = list(self.knowledge.find(question)) if self.knowledge is not None and question.strip() else []
        while found and counter("\n".join(knowledge_lines(found))) > self.max_knowledge_tokens:
            found.pop()
        return tuple(found)

    def build(
        self,
        query: Query,
        context: Context,
        domain: str,
        count_tokens: Callable[[str], int] | None = None,
        task: Task | None = None,
    ) -> Prompt:
        from mmedrag.generation.base import approx_token_count

        counter = count_tokens or approx_token_count
        task = task or query.task or infer_task(query.text)
        references, fitting = self._fit_references(query, context, counter)
        role = ROLES.get(domain, ROLES["other"])
        noun = image_noun(domain, query.modality)
        known = self._known(query.text, counter) if task != "report" else ()
        lines = [f"You are a professional {role}.", *knowledge_lines(known)]
        if references:
            lines.append(f"You are given a {noun}, and {len(references)} reference report(s) from similar cases:")
            lines.extend(f"[{ref.number}] (case {ref.record_id}) {ref.text}" for ref in references)
            lines.append(CAUTION)
        else:
            lines.append(f"You are given a {noun}.")
        lines.append(INSTRUCTIONS[task])
        if task != "report":
            lines.append(f"Question: {query.text.strip()}")
        content: list[dict[str, Any]] = []
        images: tuple[Image.Image, ...] = ()
        if query.image is not None:
            content.append({"type": "image"})
            images = (query.image,)
        content.append({"type": "text", "text": "\n".join(lines)})
        messages: tuple[Message, ...] = ({"role": "user", "content": content},)
        return Prompt(
            messages=messages,
            images=images,
            task=task,
            question=query.text.strip(),
            domain=domain,
            references=tuple(references),
            trace={
                "references": fitting,
                "reference_budget": self.max_reference_tokens,
                **({"knowledge": [concept.to_dict() for concept in known]} if known else {}),
            },
            knowledge=known,
        )

    def _fit_references(
        self, query: Query, context: Context, count: Callable[[str], int]
    ) -> tuple[list[Reference], list[dict[str, Any]]]:
        """Keep references in rank order while the budget lasts; cut the one that overflows, drop the rest."""
        remaining = self.max_reference_tokens
        kept: list[Reference] = []
        account: list[dict[str, Any]] = []
        for hit in context.hits:
            text = clean_reference(hit.record.text)
            tokens = count(text)
            entry: dict[str, Any] = {"id": hit.record.id, "tokens": tokens, "kept_tokens": 0, "status": "dropped"}
            entry["own"] = same_case(query, hit.record)
            if tokens <= remaining:
                kept_text, entry["kept_tokens"], entry["status"] = text, tokens, "full"
            elif remaining >= self.min_reference_tokens:
                kept_text = truncate_to_tokens(text, remaining, count)
                entry["kept_tokens"], entry["status"] = count(kept_text), "truncated"
            else:
                account.append(entry)
                continue
            remaining -= int(entry["kept_tokens"])
            kept.append(
                Reference(
                    number=len(kept) + 1,
                    record_id=hit.record.id,
                    text=kept_text,
                    score=hit.score,
                    truncated=entry["status"] == "truncated",
                    own=entry["own"],
                )
            )
            account.append(entry)
        return kept, account


def truncate_to_tokens(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The longest word-boundary prefix of ``text`` (plus an ellipsis) that fits in ``budget`` tokens."""
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # binary search on the number of words kept
        middle = (low + high + 1) // 2
        if count(" ".join(words[:middle]) + " ...") <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]) + " ..." if low else ""
