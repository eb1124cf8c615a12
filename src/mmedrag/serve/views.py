"""What a reader needs beside the answer: status, routing confidence, why the selector cut at k, evidence cards.

``ask_payload`` is the ``mmedrag ask --json`` object (:meth:`mmedrag.types.Answer.to_dict`, the one serialisation
of an answer, with markup stripped from the answer text) plus ``summary`` and ``evidence``; the page and the API
show the same facts.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from mmedrag.generation.extractive import UNKNOWN
from mmedrag.types import Answer, Hit

_REFERENCE_SUFFIX = re.compile(r"\s*\[reference \d+\]\s*$")
_BLOCKS = re.compile(r"<(script|style|iframe|object|template)\b.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<!--.*?(?:-->|$)|</?[A-Za-z][^<>]*(?:>|$)", re.DOTALL)


def strip_markup(text: str) -> str:
    """``text`` without HTML: script/style blocks with their content, comments and tags removed (an unclosed tag
    at the end included); the words between tags are kept. Answers quote report sentences, and reports are data
    that may carry markup: a client that renders the answer as HTML or Markdown must not run it."""
    return _TAGS.sub("", _BLOCKS.sub("", text))


def status_of(answer: Answer) -> str:
    """``out_of_scope`` (the router refused the image), ``abstained`` (no answer) or ``answered``."""
    if answer.trace.get("abstained") and not answer.trace.get("selector"):
        return "out_of_scope"
    if answer.trace.get("abstained") or answer.text.strip().lower().rstrip(".") == UNKNOWN:
        return "abstained"
    return "answered"


def selector_reason(trace: dict[str, Any]) -> str:
    """One sentence on where the context selector cut the ranked list and why."""
    if not trace or not trace.get("scores"):
        return "no references: nothing was retrieved for this query"
    rule, cut, seen = trace.get("rule", "?"), trace.get("cut", 0), len(trace.get("scores", []))
    reasons = {
        "top_k": f"top-k rule: the {cut} best of {seen} retrieved cases (k = {trace.get('k')})",
        "min_score": f"kept the {cut} of {seen} cases scoring at least {trace.get('min_score')} (cap {trace.get('k')})",
        "ratio_to_top1": f"kept cases while best score / score < {trace.get('threshold')}: {cut} of {seen}",
        "calibrated": f"k = {cut} certified by calibration (learn-then-test) for this query's scores",
    }
    if rule == "gap":
        why = {
            "gap": f"the first similarity drop larger than gamma = {trace.get('gamma')} (MMed-RAG's gap rule)",
            "k_max": f"the cap k_max = {trace.get('k_max')}; no sharp drop before it",
            "k_min": f"the floor k_min = {trace.get('k_min')}",
            "end of positive scores": "the end of the positive scores",
        }.get(str(trace.get("reason")), str(trace.get("reason")))
        return f"cut after {cut} of {seen} cases at {why}"
    text = reasons.get(rule, f"{rule}: kept {cut} of {seen} retrieved cases")
    if trace.get("reason") and rule != "gap":
        text += f" ({trace['reason']})"
    return text


def deciding_sentences(answer: Answer) -> dict[str, str]:
    """Record id -> the report sentence the extractive answerer decided on (empty for other generators).

    The extractive trace names the deciding reference (``decided_by``, its number) among the ``votes``; an open
    answer names its ``reference`` and quotes the sentence.
    """
    extractive = (answer.trace.get("generation") or {}).get("extractive") or {}
    votes = [vote for vote in extractive.get("votes", []) if isinstance(vote, dict)]
    decided = extractive.get("decided_by")
    if decided is not None:
        return {str(v["id"]): str(v["sentence"]) for v in votes if v.get("reference") == decided and v.get("sentence")}
    found = {str(v["id"]): str(v["sentence"]) for v in votes if v.get("sentence") and str(v["sentence"]) in answer.text}
    if not found and extractive.get("reference") and answer.task == "open":
        found[str(extractive["reference"])] = _REFERENCE_SUFFIX.sub("", answer.text).strip()
    return found


def mentions(answer: Answer) -> dict[str, list[str]]:
    """Record id -> sentences that mention the asked finding (votes that did not decide included)."""
    extractive = (answer.trace.get("generation") or {}).get("extractive") or {}
    out: dict[str, list[str]] = {}
    for vote in extractive.get("votes", []):
        if isinstance(vote, dict) and vote.get("sentence"):
            out.setdefault(str(vote.get("id")), []).append(str(vote["sentence"]))
    return out


def split_on(text: str, sentence: str | None) -> tuple[str, str, str]:
    """``text`` as (before, sentence, after) for highlighting; the sentence empty when it does not occur."""
    if sentence:
        at = text.find(sentence)
        if at >= 0:
            return text[:at], sentence, text[at + len(sentence) :]
    return text, "", ""


def evidence(answer: Answer) -> list[dict[str, Any]]:
    """One card per cited case: id, score, modality, the deciding sentence and where to get more."""
    deciding = deciding_sentences(answer)
    return [_card(hit, deciding.get(hit.record.id)) for hit in answer.context.hits]


def _card(hit: Hit, sentence: str | None) -> dict[str, Any]:
    record = hit.record
    link = f"/v1/cases/{quote(record.id, safe='')}"
    return {
        "id": record.id,
        "score": round(hit.score, 6),
        "rank": hit.rank,
        "domain": record.domain,
        "modality": record.modality,
        "source": record.source,
        "first_line": record.first_line,
        "report": record.text,
        "deciding_sentence": sentence,
        "case_url": link,
        "thumbnail_url": f"{link}/thumbnail",
    }


def shown_grade(answer: Answer) -> str:
    """The grade a reader is shown: :attr:`Answer.grade`, except that a router's refusal is always out of scope."""
    # The router's refusal happens before any evidence is graded, so nothing else may speak for such an image.
    return "out_of_scope" if status_of(answer) == "out_of_scope" else answer.grade


def summary(answer: Answer) -> dict[str, Any]:
    """Status, grade, domain and its confidence, and k with the selector's reason."""
    route = answer.trace.get("route") or {}
    return {
        "status": status_of(answer),
        "grade": shown_grade(answer),
        "domain": answer.domain,
        "domain_source": answer.trace.get("domain_source"),
        "domain_confidence": route.get("probability"),
        "k": answer.context.k,
        "selector": selector_reason(dict(answer.trace.get("selector") or {})),
        "abstained": answer.trace.get("abstained"),
        "concepts": concepts_of(answer),
    }


def concepts_of(answer: Answer) -> list[dict[str, str]]:
    """The ontology concepts the question named (``--knowledge``): what the reader sees of the graph behind an
    answer, with the question's words and, when they are plain words, the report term they were read as."""
    found = (answer.trace.get("prompt") or {}).get("knowledge") or []
    return [
        {
            "id": str(c.get("id", "")),
            "name": str(c.get("name", "")),
            "matched": str(c.get("matched", "")),
            "read_as": str(c.get("technical", "")) if c.get("relation") in ("gloss", "layperson") else "",
            "definition": str(c.get("definition", "")),
            "source": str(c.get("source", "")),
        }
        for c in found
    ]


def ask_payload(answer: Answer, baseline: Answer | None = None) -> dict[str, Any]:
    """The ``ask --json`` object plus ``summary``, ``evidence`` and, when asked, the no-retrieval answer."""
    payload = {**answer.to_dict(), "answer": strip_markup(answer.text)}
    payload["summary"] = summary(answer)
    payload["evidence"] = evidence(answer)
    if baseline is not None:
        facts = {**summary(baseline), "selector": "retrieval off: the generator saw no references"}
        payload["without_retrieval"] = {**baseline.to_dict(), "answer": strip_markup(baseline.text), "summary": facts}
    return payload


def case_payload(record: Any) -> dict[str, Any]:
    """A case for ``GET /v1/cases/{id}``: report, domain, modality; never patient or study ids or file paths."""
    link = f"/v1/cases/{quote(record.id, safe='')}"
    return {
        "id": record.id,
        "report": record.text,
        "domain": record.domain,
        "modality": record.modality,
        "source": record.source,
        "split": record.split,
        "views": len(record.image_paths),
        "thumbnail_url": f"{link}/thumbnail",
    }
