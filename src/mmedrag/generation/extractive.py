"""The extractive answerer: no VLM, CPU only, and honest about what the references say.

* Closed (yes/no) questions: find the asked finding in the retrieved reports' sentences and whether it is negated
  (NegEx-style, :mod:`mmedrag.generation.negation`); references vote, the best-ranked weighing most.
* Open questions: the retrieved sentence that covers most of the question's terms.
* Report requests: the best-ranked retrieved report, as retrieval-based report generation does (CXR-RePaiR,
  Endo et al. 2021).
When the references are silent it answers "unknown" (an abstention), never a guess. It is the offline default and a
baseline row in every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mmedrag.generation.base import approx_token_count
from mmedrag.generation.negation import Mention, find_mention, sentences, stem, words
from mmedrag.types import UNKNOWN, Generation, Prompt, Reference

# Words that frame a question rather than name a finding.
_FRAME = frozenset(
    """
    a an the is are was were be been being does do did has have had can could will would should may might must
    there this that these those it its of in on at to for from with by as and or any some evidence sign signs
    image images picture film films scan scans study radiograph radiographs xray ray view shown show shows
    seen see visible visualized noted present presence appear appears appearing demonstrate demonstrated
    demonstrates indicate indicates indicative suggest suggests suggestive patient patients identified
    identify detected observed consistent findings finding found what which where how located here chest
    evident apparent report reports mention mentions mentioned according
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Concepts that reports name in one word: the question's terms (all present) become the report's term.
_CONCEPTS: tuple[tuple[frozenset[str], str], ...] = tuple(
    (frozenset(stem(w) for w in key.split()), stem(value))
    for key, value in (
        ("heart enlarged", "cardiomegaly"),
        ("cardiac enlarged", "cardiomegaly"),
        ("heart large", "cardiomegaly"),
        ("lung collapse", "atelectasis"),
        ("fluid pleural", "effusion"),
        ("air pleural", "pneumothorax"),
        ("unremarkable", "normal"),
    )
)
# Answering "Is X abnormal?" from "X is normal" means flipping the polarity; so does "enlarged" against "normal".
_ANTONYMS = {stem(word): stem("normal") for word in ("abnormal", "abnormality", "enlarged", "problem", "problems")}


def finding_terms(question: str) -> tuple[list[str], bool]:
    """The stemmed content terms of a question, and whether the question itself is negated ("Is there no ...?")."""
    tokens = words(question)
    negated_question = bool({"no", "not"} & set(tokens[1:3]))  # "Is there no ...?", "Is it not ...?"
    terms: list[str] = []
    for token in tokens:
        if token in _FRAME or token in {"no", "not"} or len(token) < 3:
            continue
        term = stem(token)
        if term not in terms:
            terms.append(term)
    return terms, negated_question


def _required(terms: list[str]) -> int:
    return max(1, math.ceil(0.6 * len(terms)))


def term_variants(terms: list[str]) -> list[tuple[list[str], bool]]:
    """The question's terms as asked, with an antonym swapped in (polarity flipped), and with concepts merged."""
    variants = [(terms, False)]
    swapped = [_ANTONYMS.get(t, t) for t in terms]
    if swapped != terms:
        variants.append((swapped, True))
    for key, value in _CONCEPTS:
        if key <= set(terms):
            variants.append(([t for t in terms if t not in key] + [value], False))
    return variants


def _closed_mention(reference: Reference, terms: list[str]) -> tuple[Mention, bool] | None:
    """The reference's best mention of the finding and whether an antonym flipped it."""
    variants = term_variants(terms)
    best: tuple[Mention, bool] | None = None
    for sentence in sentences(reference.text):
        for variant, flipped in variants:
            # An antonym reading ("normal" for "abnormal") must match every term: "normal" alone is too common.
            mention = find_mention(sentence, variant, len(variant) if flipped else _required(variant))
            if mention and (best is None or mention.matched > best[0].matched):
                best = (mention, flipped)
    return best


def answer_closed(question: str, references: Sequence[Reference]) -> tuple[str, dict[str, Any]]:
    """``Yes.``/``No.`` with the deciding sentence, or ``unknown``; plus the votes for the trace."""
    terms, negated_question = finding_terms(question)
    votes: list[dict[str, Any]] = []
    tally = 0.0
    for reference in references:
        found = _closed_mention(reference, terms) if terms else None
        if found is None:
            continue
        mention, flipped = found
        says_yes = (not mention.negated) != flipped
        weight = 1.0 / reference.number  # the best-ranked reference weighs most
        tally += weight if says_yes else -weight
        votes.append(
            {"reference": reference.number, "id": reference.record_id, "yes": says_yes, "sentence": mention.sentence}
        )
    trace = {"terms": terms, "votes": votes}
    if not votes or tally == 0:
        return UNKNOWN, trace
    says_yes = (tally > 0) != negated_question
    support = next(v for v in votes if v["yes"] == (tally > 0))
    return f'{"Yes" if says_yes else "No"}. Reference [{support["reference"]}]: "{support["sentence"]}"', trace


def answer_open(question: str, references: Sequence[Reference]) -> tuple[str, dict[str, Any]]:
    terms, _ = finding_terms(question)
    best: tuple[int, int, str, Reference] | None = None
    for reference in references:
        for sentence in sentences(reference.text):
            mention = find_mention(sentence, terms, 1) if terms else None
            if mention and (best is None or (mention.matched, -reference.number) > (best[0], best[1])):
                best = (mention.matched, -reference.number, sentence, reference)
    if best is None:
        return UNKNOWN, {"terms": terms}
    return f"{best[2]} [reference {best[3].number}]", {"terms": terms, "reference": best[3].record_id}


class ExtractiveGenerator:
    """Answers from the prompt's references without any language model (see the module docstring)."""

    name = "extractive"

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return [self._one(prompt) for prompt in prompts]

    def _one(self, prompt: Prompt) -> Generation:
        if prompt.task == "closed":
            text, trace = answer_closed(prompt.question, prompt.references)
        elif prompt.task == "open":
            text, trace = answer_open(prompt.question, prompt.references)
        elif prompt.references:
            text, trace = prompt.references[0].text, {"reference": prompt.references[0].record_id}
        else:
            text, trace = UNKNOWN, {}
        return Generation(
            text=text,
            prompt_tokens=approx_token_count(prompt.text),
            completion_tokens=approx_token_count(text),
            meta={"extractive": trace},
        )

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)
