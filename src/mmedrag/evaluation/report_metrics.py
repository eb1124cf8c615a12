"""Report-generation metrics under an explicit, recorded protocol (method.md §8.2; docs/known-differences.md).

``coco`` (default; the COCO-caption evaluation LLaVA's ``m4c_evaluator.py`` runs): PTBTokenizer semantics
(lower-case, punctuation removed; :mod:`mmedrag.evaluation.report_tokens`), then pycocoevalcap's scorers:

* BLEU-1..4: ``Bleu(4)``, corpus level (clipped n-gram counts pooled over the corpus, standard brevity penalty);
* ROUGE-L: ``Rouge`` (LCS F-measure, beta 1.2), averaged over reports;
* CIDEr-D: ``Cider`` (TF-IDF from the evaluated references themselves);
* METEOR: ``Meteor`` (the METEOR 1.5 jar; needs Java). Without Java it is reported as skipped, never 0.

``nltk`` (the reference authors' stated path, RULE issue #8: "NLTK and rouge_score"): NLTK ``corpus_bleu`` with
uniform weights and no smoothing over lower-cased whitespace tokens, rouge_score ROUGE-L F-measure (its own
tokeniser, no stemming) averaged over reports, NLTK's METEOR where NLTK's WordNet data is installed. CIDEr belongs
to the coco protocol only.

Numbers of the two protocols are not comparable: every result names its protocol and tokenizer, and
``mmedrag compare`` refuses runs with different protocols. Clinical metrics (:mod:`mmedrag.evaluation.chexpert` runs
offline; CheXbert and RadGraph F1 need models downloaded from the hub) are reported as skipped with the reason when
they cannot run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

from mmedrag.errors import ConfigError
from mmedrag.evaluation.report_tokens import java_available, nltk_tokenize, ptb_tokenize

REPORT_METRICS = ("bleu", "rouge_l", "cider", "meteor", "chexpert", "chexbert", "radgraph")
PROTOCOLS = ("coco", "nltk")
Protocol = Literal["coco", "nltk"]
_EMPTY = "<empty>"  # stands for an empty hypothesis: pycocoevalcap's BLEU and METEOR need one token at least


def _skipped(reason: str) -> dict[str, Any]:
    return {"skipped": reason}


def report_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str] = ("bleu", "rouge_l", "cider", "meteor"),
    protocol: str = "coco",
    tokenizer: str = "auto",
) -> dict[str, Any]:
    """Corpus metrics for generated reports; each entry is a number or ``{"skipped": reason}``.

    Args:
        protocol: ``coco`` or ``nltk`` (see the module docstring); recorded as ``metrics_protocol``.
        tokenizer: for ``coco``: ``auto`` (the PTBTokenizer jar when Java is present), ``java`` or ``python``.
    """
    unknown = [m for m in metrics if m not in REPORT_METRICS]
    if unknown:
        raise ConfigError(f"unknown report metric(s) {unknown}; use {', '.join(REPORT_METRICS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown metrics protocol {protocol!r}; use {' or '.join(PROTOCOLS)}")
    if len(predictions) != len(references):
        raise ConfigError(f"{len(predictions)} predictions but {len(references)} references")
    results: dict[str, Any] = {
        "n": len(predictions),
        "empty_predictions": sum(not p.strip() for p in predictions),
        "metrics_protocol": protocol,
    }
    if protocol == "coco":
        results.update(_coco(predictions, references, metrics, tokenizer))
    else:
        results.update(_nltk(predictions, references, metrics))
    if "chexpert" in metrics:
        from mmedrag.evaluation.chexpert import chexpert_metrics

        results["chexpert"] = chexpert_metrics(predictions, references) if predictions else _skipped("no reports")
        if predictions:  # the two headline numbers beside the per-observation table
            results["chexpert_f1_micro"] = results["chexpert"]["micro"]["f1"]
            results["chexpert_f1_micro_5"] = results["chexpert"]["micro_5"]["f1"]
    for name in ("chexbert", "radgraph"):
        if name in metrics:
            results[name] = clinical_metric(name, predictions, references)
    return results


def _coco(predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str], tokenizer: str) -> dict:
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError:
        hint = _skipped("pip install 'mmedrag[eval]' (pycocoevalcap)")
        return {m: hint for m in metrics if m in {"bleu", "rouge_l", "cider", "meteor"}}
    if tokenizer == "java" and not java_available():
        raise ConfigError("tokenizer 'java' needs a Java runtime on the PATH (apt-get install default-jre-headless)")
    tokens, used = ptb_tokenize([*predictions, *references], tokenizer)
    results: dict[str, Any] = {
        "tokenizer": used,
        "implementation": "pycocoevalcap 1.2 (BLEU corpus-level, ROUGE-L beta 1.2, CIDEr-D, METEOR 1.5) after "
        + ("the Stanford PTBTokenizer jar" if used == "ptb-java" else "a Python re-implementation of PTBTokenizer"),
    }
    if not predictions:
        return results
    hypotheses = {i: [t or _EMPTY] for i, t in enumerate(tokens[: len(predictions)])}
    golds = {i: [t or _EMPTY] for i, t in enumerate(tokens[len(predictions) :])}
    if "bleu" in metrics:
        scores, _ = Bleu(4).compute_score(golds, hypotheses, verbose=0)
        results.update({f"bleu_{n}": float(s) for n, s in enumerate(scores, start=1)})
    if "rouge_l" in metrics:
        results["rouge_l"] = float(Rouge().compute_score(golds, hypotheses)[0])
    if "cider" in metrics:
        results["cider"] = float(Cider().compute_score(golds, hypotheses)[0])
    if "meteor" in metrics:
        results["meteor"] = _meteor(golds, hypotheses)
    return results


def _meteor(golds: dict[int, list[str]], hypotheses: dict[int, list[str]]) -> float | dict[str, Any]:
    if not java_available():
        return _skipped("METEOR needs Java (the METEOR 1.5 jar); install a JRE, e.g. apt-get install default-jre")
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        return float(scorer.compute_score(golds, hypotheses)[0])
    finally:
        scorer.meteor_p.kill()


def _nltk(predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "tokenizer": "lower-case whitespace split (BLEU, METEOR); rouge_score's own (ROUGE-L)",
        "implementation": "NLTK corpus_bleu (uniform weights, no smoothing), rouge_score ROUGE-L F-measure "
        "(no stemming) averaged over reports, NLTK meteor_score",
    }
    if "cider" in metrics:
        results["cider"] = _skipped("CIDEr is part of the coco protocol only (--metrics-protocol coco)")
    try:
        from nltk.translate.bleu_score import corpus_bleu
        from rouge_score.rouge_scorer import RougeScorer
    except ImportError:
        hint = _skipped("pip install 'mmedrag[eval]' (nltk, rouge-score)")
        return {**results, **{m: hint for m in metrics if m in {"bleu", "rouge_l", "meteor"}}}
    if not predictions:
        return results
    hypotheses = [nltk_tokenize(p) for p in predictions]
    golds = [[nltk_tokenize(r)] for r in references]
    if "bleu" in metrics:
        with warnings.catch_warnings():  # NLTK warns at every zero n-gram count; the number says it already
            warnings.simplefilter("ignore", UserWarning)
            for n in range(1, 5):
                results[f"bleu_{n}"] = float(corpus_bleu(golds, hypotheses, weights=(1 / n,) * n))
    if "rouge_l" in metrics:
        scorer = RougeScorer(["rougeL"], use_stemmer=False)
        scores = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)]
        results["rouge_l"] = sum(scores) / len(scores)
    if "meteor" in metrics:
        results["meteor"] = _nltk_meteor(golds, hypotheses)
    return results


def _nltk_meteor(golds: list[list[list[str]]], hypotheses: list[list[str]]) -> float | dict[str, Any]:
    from nltk.translate.meteor_score import meteor_score

    try:
        scores = [meteor_score(g, h) for g, h in zip(golds, hypotheses, strict=True)]
    except LookupError:
        return _skipped("NLTK METEOR needs NLTK's WordNet data (see docs/offline.md, 'NLTK WordNet offline')")
    return sum(scores) / len(scores)


def clinical_metric(name: str, predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """CheXbert / RadGraph F1 where their packages and weights load; otherwise a skipped entry with the reason."""
    package = {"chexbert": "f1chexbert", "radgraph": "radgraph"}[name]
    try:
        module = __import__(package)
    except ImportError:
        return _skipped(f"{name} F1 needs `pip install {package}` and its model weights (downloaded from the hub)")
    try:  # both packages download their weights on first use; offline that fails
        if name == "chexbert":
            scorer = module.F1CheXbert()
            accuracy, _, class_report, _ = scorer(hyps=list(predictions), refs=list(references))
            return {"accuracy": float(accuracy), "micro_f1": float(class_report["micro avg"]["f1-score"])}
        scorer = module.F1RadGraph(reward_level="partial")
        mean_reward, *_ = scorer(hyps=list(predictions), refs=list(references))
        return {"f1_partial": float(mean_reward)}
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party model load means "cannot run here"
        return _skipped(f"{name} model could not be loaded here ({type(exc).__name__}: {str(exc).splitlines()[0]})")
