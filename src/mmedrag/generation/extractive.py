"""The extractive answerer: no VLM, CPU only, and honest about what the references say.

* Closed (yes/no) questions: find the asked finding in the retrieved reports' sentences, whether it is negated
  (NegEx-style, :mod:`mmedrag.generation.negation`), hedged or stated normal, by the written rules and lexicon of
  :mod:`mmedrag.generation.closed_reading` and :mod:`mmedrag.generation.lexicon`; an unmentioned finding in a
  complete report *of the query's own study* reads as absent (policy ``unmentioned``), while similar cases' silence
  is only weak evidence; references vote, the best-ranked weighing most, and every answer carries its evidence grade
  (:mod:`mmedrag.generation.grading`).
* Open questions: the retrieved sentence that covers most of the question's terms.
* Report requests: the best-ranked retrieved report, as retrieval-based report generation does (CXR-RePaiR,
  Endo et al. 2021).
When the references are silent (or an incomplete one, such as an image caption, does not mention the finding) it
answers "unknown" (an abstention), never a guess; the trace names the deciding sentence or rule. It is the offline
default and a baseline row in every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.generation.base import approx_token_count
from mmedrag.generation.closed_reading import HEDGE_POLICIES, UNMENTIONED_POLICIES, parse_question
from mmedrag.generation.grading import Verdict, closed_evidence, evidence_verdict, free_text_verdict
from mmedrag.generation.lexicon import is_frame
from mmedrag.generation.negation import find_mention, sentences, stem, words
from mmedrag.generation.prompts import understood
from mmedrag.types import UNKNOWN, Generation, Prompt, Reference

RULES_VERSION = 5  # bump when a rule or the lexicon changes what the answerer says


def finding_terms(question: str) -> tuple[list[str], bool]:
    """The stemmed content terms of a question, and whether the question itself is negated ("Is there no ...?")."""
    tokens = words(question)
    negated_question = bool({"no", "not"} & set(tokens[1:3]))  # "Is there no ...?", "Is it not ...?"
    terms: list[str] = []
    for token in tokens:
        if is_frame(token) or token in {"no", "not"} or len(token) < 3:
            continue
        term = stem(token)
        if term not in terms:
            terms.append(term)
    return terms, negated_question


@dataclass(frozen=True)
class ClosedPolicy:
    """How the answerer reads what a report does not say plainly (see :mod:`mmedrag.generation.closed_reading`).

    Attributes:
        unmentioned: ``absent_if_complete`` (a complete report that does not mention a finding says it is absent,
            as the CheXpert labeler reads reports; only the query's own report infers an answer, similar cases'
            silence is at most weak evidence) or ``abstain`` (silence never votes).
        hedged: a hedged finding ("may represent", "cannot exclude") counts as ``yes`` (present, CheXpert's U-Ones),
            ``no`` (U-Zeros) or ``abstain``.
    """

    unmentioned: str = "absent_if_complete"
    hedged: str = "yes"

    def __post_init__(self) -> None:
        if self.unmentioned not in UNMENTIONED_POLICIES:
            raise ConfigError(f"unmentioned={self.unmentioned!r}; use one of {', '.join(UNMENTIONED_POLICIES)}")
        if self.hedged not in HEDGE_POLICIES:
            raise ConfigError(f"hedged={self.hedged!r}; use one of {', '.join(HEDGE_POLICIES)}")


def answer_closed(
    question: str, references: Sequence[Reference], policy: ClosedPolicy | None = None
) -> tuple[str, dict[str, Any]]:
    """``Yes.``/``No.`` with the deciding sentence (or rule), or ``unknown``; plus the votes for the trace.

    The references' reading and its grade come from :func:`mmedrag.generation.grading.closed_evidence`: the query's
    own report decides before similar cases, a sentence naming the finding before a report's silence, and within a
    tier references vote with weight 1/rank. A ``weak`` answer (similar cases' silence, their sentences
    disagreeing, or one naming only part of the question) is still given here; the pipeline's ``answer_weak``
    policy decides whether a reader sees it.
    """
    policy = policy or ClosedPolicy()
    evidence = closed_evidence(question, references, policy.unmentioned, policy.hedged)
    parsed = parse_question(question)
    trace: dict[str, Any] = {
        "terms": list(parsed.content),
        "state": parsed.state,
        "policy": {"unmentioned": policy.unmentioned, "hedged": policy.hedged},
        "votes": evidence.votes,
        "grade": evidence.grade,
        "share": evidence.share,
    }
    trace["evidence"] = evidence_verdict(evidence).to_meta()
    support = evidence.support
    if evidence.answer is None or support is None:
        trace["rule"] = "no_finding_terms" if not parsed.content else "silent" if not evidence.votes else "tie"
        return UNKNOWN, trace
    trace["rule"] = support["rule"]
    trace["decided_by"] = support["reference"]
    word = "Yes" if evidence.answer else "No"
    number = support["reference"]
    if support["sentence"]:
        return f'{word}. Reference [{number}]: "{support["sentence"]}"', trace
    if evidence.tier == "own_silence":
        return f"{word}. This study's own report [{number}] does not mention it and reads as complete.", trace
    cited = ", ".join(f"[{v['reference']}]" for v in evidence.votes if v["tier"] == "similar_silence")
    return f"{word} (weak evidence). Similar cases {cited} do not mention it.", trace


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

    def __init__(self, unmentioned: str = "absent_if_complete", hedged: str = "yes") -> None:
        self.policy = ClosedPolicy(unmentioned=unmentioned, hedged=hedged)
        # Folded into answer-cache keys, so a cache never returns answers of other rules or another policy.
        self.identity_settings = {"rules": RULES_VERSION, "unmentioned": unmentioned, "hedged": hedged}

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        return [self._one(prompt) for prompt in prompts]

    def _one(self, prompt: Prompt) -> Generation:
        if prompt.task == "closed":
            text, trace = answer_closed(understood(prompt), prompt.references, self.policy)
            evidence = trace.pop("evidence")
        else:
            if prompt.task == "open":
                text, trace = answer_open(understood(prompt), prompt.references)
            elif prompt.references:
                text, trace = prompt.references[0].text, {"reference": prompt.references[0].record_id}
            else:
                text, trace = UNKNOWN, {}
            verdict = (
                Verdict("abstained", None, "No reference mentions what the question asks.")
                if text == UNKNOWN
                else free_text_verdict(prompt, trace.get("reference"))
            )
            evidence = verdict.to_meta()
        return Generation(
            text=text,
            prompt_tokens=approx_token_count(prompt.text),
            completion_tokens=approx_token_count(text),
            confidence=evidence["share"],
            meta={"extractive": trace, "evidence": evidence},
        )

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)
