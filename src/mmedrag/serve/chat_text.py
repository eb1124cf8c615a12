"""The answer as chat text: the answer, its evidence grade and confidence, then the cited cases as numbered Markdown
sources (case id, score, what the case says about the asked finding, the deciding sentence, a thumbnail).

Chat clients (Open WebUI, LangChain's ``ChatOpenAI``) keep only the message text and drop extra JSON fields, so
"Reference [1]" must be explained in the text itself. Report text is user data: markup is stripped and Markdown
syntax is escaped before it is quoted, so a report can neither inject HTML nor break the list.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from mmedrag.serve.views import concepts_of, deciding_sentences, status_of, strip_markup
from mmedrag.types import Answer, Hit

_MARKDOWN = re.compile(r"([\\`*_<>|~]|!(?=\[)|\](?=[(\[]))")
_BLOCK_START = re.compile(r"^([#=+-])")
_LIST_NUMBER = re.compile(r"^(\d+)([.)])")

GRADE_LABELS = {
    "supported": "Supported: a cited report states it",
    "inferred": "Inferred: the query's own report does not mention it",
    "weak": "Weak evidence: only similar cases, or cited reports disagree",
    "abstained": "Not answered",
    "out_of_scope": "Out of scope: the image is not one the knowledge base covers",
}
FINDINGS = {"present": "states it present", "absent": "states it absent", "uncertain": "states it as uncertain"}


def markdown_safe(text: str) -> str:
    """Report text safe to quote in Markdown: no HTML, one line, and no character that would start emphasis, code,
    a link or image, a table, a heading or a list (a bare ``[1]`` is left as it is: it renders as written)."""
    flat = " ".join(strip_markup(text).split())
    escaped = _MARKDOWN.sub(r"\\\1", flat)
    # A leading '#', '-', '+', '=' or '1.' would make a heading or a list item.
    return _LIST_NUMBER.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\1", escaped))


def chat_text(answer: Answer, base_url: str, images: bool = True) -> str:
    """The message content for a chat client: answer, evidence line and, for an answer, the numbered sources.

    Args:
        base_url: the request's base URL; thumbnail links are made absolute so a chat client can load them.
        images: show thumbnails as Markdown images (False: as links, for a service whose routes need a key the
            client's browser does not send).
    """
    parts = [markdown_safe(answer.text) or "unknown", evidence_line(answer)]
    if concepts := concepts_line(answer):
        parts.append(concepts)
    if status_of(answer) == "answered" and answer.context.hits:
        parts.append(sources(answer, base_url, images))
    return "\n\n".join(parts)


def evidence_line(answer: Answer) -> str:
    """``**Evidence:** <grade> · confidence 0.87 (calibrated). <note>`` (confidence left out when there is none)."""
    label = GRADE_LABELS.get(answer.grade, str(answer.grade))
    if status_of(answer) == "answered" and answer.grade in ("abstained", "out_of_scope") and not answer.note:
        label = "Not graded"  # an answer with the default grade: the pipeline that made it does not grade
    line = f"**Evidence:** {label}"
    if answer.confidence is not None:
        calibrated = "calibrated" if answer.confidence_calibrated else "uncalibrated"
        line += f" · confidence {answer.confidence:.2f} ({calibrated})"
    note = markdown_safe(answer.note)
    return f"{line}. {note}" if note else f"{line}."


def concepts_line(answer: Answer) -> str:
    """``**Concepts:** Aortic tortuosity (HP:0006687), "twisted" read as "tortuous"``; empty without a graph."""
    shown = []
    for concept in concepts_of(answer):
        text = f"{concept['name']} ({concept['id']})"
        if concept["read_as"]:
            text += f', "{concept["matched"]}" read as "{concept["read_as"].lower()}"'
        shown.append(markdown_safe(text))
    return f"**Concepts:** {'; '.join(shown)}" if shown else ""


def sources(answer: Answer, base_url: str, images: bool = True) -> str:
    """``**Sources**`` and one item per cited case, labelled with its reference number in the prompt."""
    numbers = reference_numbers(answer)
    deciding = deciding_sentences(answer)
    statuses = case_statuses(answer)
    lines = ["**Sources**", ""]
    for hit in answer.context.hits:
        record_id = hit.record.id
        number = numbers.get(record_id)
        label = f"[{number}]" if number is not None else "[-]"
        item = [f"- **{label} Case {markdown_safe(record_id)}** · score {hit.score:.3f} · {statuses[record_id]}"]
        sentence = deciding.get(record_id)
        if sentence:
            item.append(f'  Deciding sentence: "{markdown_safe(sentence)}"')
        item.append(f"  {_thumbnail(hit, base_url, images)}")
        lines.append("  \n".join(item))  # two trailing spaces: a line break inside the list item
    return "\n".join(lines)


def reference_numbers(answer: Answer) -> dict[str, int]:
    """Record id -> its reference number in the prompt (what "Reference [n]" in the answer points at).

    The prompt builder numbers the references it kept in rank order and drops those past its token budget
    (``trace["prompt"]["references"]``); without that trace the hits are numbered in order.
    """
    account = (answer.trace.get("prompt") or {}).get("references")
    if not account:
        return {hit.record.id: rank for rank, hit in enumerate(answer.context.hits, start=1)}
    kept = [entry["id"] for entry in account if isinstance(entry, dict) and entry.get("status") != "dropped"]
    return {str(record_id): number for number, record_id in enumerate(kept, start=1)}


def case_statuses(answer: Answer) -> dict[str, str]:
    """Record id -> what the case says about the asked finding, in the terms of the grade (method.md §5.1).

    The extractive answerer's votes tell it for a yes/no question (the finding a report states, the unmentioned-
    finding rule, which vote decided); for an open answer or another generator only what the answer quotes is known.
    """
    numbers = reference_numbers(answer)
    extractive = (answer.trace.get("generation") or {}).get("extractive")
    votes = {str(v["id"]): v for v in (extractive or {}).get("votes", []) if isinstance(v, dict) and "id" in v}
    closed = extractive is not None and "votes" in extractive
    decided = (extractive or {}).get("decided_by")
    quoted = deciding_sentences(answer)
    account = (answer.trace.get("prompt") or {}).get("references") or []
    own = {
        str(e.get("id"))
        for e in [*account, *votes.values()]
        if isinstance(e, dict) and (e.get("own") or str(e.get("tier", "")).startswith("own"))
    }
    out: dict[str, str] = {}
    for hit in answer.context.hits:
        record_id = hit.record.id
        if record_id not in numbers:
            out[record_id] = "not shown to the generator (past the prompt's reference budget)"
            continue
        vote = votes.get(record_id)
        if not closed:
            parts = ["quoted in the answer" if record_id in quoted else "given to the generator"]
        elif vote is None:
            parts = ["does not mention the asked finding"]
        elif vote.get("sentence"):
            parts = [FINDINGS.get(str(vote.get("finding")), "mentions it")]
        elif record_id in own:
            parts = ["does not mention it (this study's complete report: read as absent)"]
        else:
            parts = ["does not mention it (another patient's report: its silence says nothing about this one)"]
        if closed and vote is not None and vote.get("reference") == decided:
            parts.append("decided the answer")
        if record_id in own:
            parts.append("the query's own study")
        out[record_id] = " · ".join(parts)
    return out


def _thumbnail(hit: Hit, base_url: str, images: bool) -> str:
    url = f"{base_url.rstrip('/')}/v1/cases/{quote(hit.record.id, safe='')}/thumbnail"
    alt = f"thumbnail of case {markdown_safe(hit.record.id)}"
    return f"![{alt}]({url})" if images else f"[{alt}]({url})"
