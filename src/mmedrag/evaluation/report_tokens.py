"""Tokenisation of reports for the two metric protocols (method.md §8.2; docs/known-differences.md).

* ``coco``: the COCO-caption evaluation's own tokenisation, as LLaVA's ``m4c_evaluator.py`` and pycocoevalcap run
  it: Stanford PTBTokenizer (the CoreNLP 3.4.1 jar shipped in pycocoevalcap, ``-preserveLines -lowerCase``), then
  the punctuation tokens of pycocoevalcap's list removed. Brackets become ``-lrb-``/``-rrb-`` and stay (the list
  names them upper-case, the tokenizer writes them lower-case). The jar needs Java; without it a pure-Python
  re-implementation of the same rules is used and named in the results. On the 14,544 findings, impression,
  indication and comparison texts of the IU-Xray reports it gives the jar's tokens exactly for 99.5% of the texts
  (the rest: ICD codes written as ",786.2", "<br>" kept whole, "cannot" split); the largest
  metric difference this makes is stated in BENCHMARKS.md ("COCO tokenizer fallback").
* ``nltk``: the reference authors' stated path (NLTK BLEU and rouge_score ROUGE-L; RULE issue #8), which never said
  how they tokenised: lower-cased text split on whitespace, the usual input of NLTK's BLEU, punctuation left on the
  words ("effusion." is one token). rouge_score tokenises its own input.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence

# pycocoevalcap.tokenizer.ptbtokenizer.PUNCTUATIONS as the tokenizer writes them with -lowerCase.
_REMOVED = {"''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", '"'}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_WORD = r"[a-z0-9]+(?:[-/.&][a-z0-9]+)*"
_PTB_TOKEN = re.compile(
    r"(?:[a-z]\.){2,}"  # initialisms keep their periods: "p.m.", "e.g."
    r"|\b(?:dr|ct|mr|mrs|ms|jr|st|[a-z])\.(?![a-z0-9])"  # so do the jar's abbreviations ("Dr.", "CT.") and initials
    r"|n't|'(?:s|re|ll|ve|m|d)\b"  # PTB splits clitics: "don't" -> "do n't", "patient's" -> "patient 's"
    rf"|{_WORD}(?=n't)|{_WORD}"
    r"|\.\.\.|--|[^\sa-z0-9]"
)
# Line breaks other than "\n" would shift the jar's one-line-per-text output (-preserveLines) against its input.
_LINE_BREAKS = re.compile(r"[\r\n\u000b\u000c\u0085\u2028\u2029]+")


def ptb_tokenize_python(text: str) -> str:
    """PTBTokenizer + pycocoevalcap punctuation removal, re-implemented in Python (the fallback without Java)."""
    lowered = text.lower().replace("cannot", "can not")  # PTB splits "cannot"
    tokens = (_BRACKETS.get(t, t) for t in _PTB_TOKEN.findall(lowered))
    return " ".join(t for t in tokens if t not in _REMOVED)


def java_available() -> bool:
    """Whether the PTBTokenizer and METEOR jars can run: a ``java`` on the PATH and pycocoevalcap installed."""
    if shutil.which("java") is None:
        return False
    try:
        import pycocoevalcap.tokenizer.ptbtokenizer  # noqa: F401
    except ImportError:
        return False
    return True


def ptb_tokenize(texts: Sequence[str], tokenizer: str = "auto") -> tuple[list[str], str]:
    """COCO-tokenised texts and the tokenizer that produced them (``"ptb-java"`` or ``"ptb-python"``).

    Args:
        tokenizer: ``auto`` (the jar when Java is present), ``java`` or ``python``.
    """
    if tokenizer == "python" or (tokenizer == "auto" and not java_available()):
        return [ptb_tokenize_python(t) for t in texts], "ptb-python"
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if not texts:
        return [], "ptb-java"
    captions = {i: [{"caption": _LINE_BREAKS.sub(" ", t)}] for i, t in enumerate(texts)}
    tokenized = PTBTokenizer().tokenize(captions)
    return [tokenized[i][0] for i in range(len(texts))], "ptb-java"


def nltk_tokenize(text: str) -> list[str]:
    """The ``nltk`` protocol's tokens: lower-cased, split on whitespace (see the module docstring)."""
    return text.lower().split()


# Largest absolute difference the Python fallback made to each coco metric on real IU-Xray reports, rounded up
# (3 systems x 3,419 reports, BENCHMARKS.md "COCO tokenizer fallback"); the tests hold the fallback to it.
FALLBACK_BOUND = {
    "bleu_1": 2e-5,
    "bleu_2": 2e-5,
    "bleu_3": 2e-5,
    "bleu_4": 2e-5,
    "rouge_l": 3e-5,
    "cider": 2e-4,
    "meteor": 3e-5,
}
