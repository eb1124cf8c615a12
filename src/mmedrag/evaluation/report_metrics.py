"""Report-generation metrics with the implementation named in every result (the reference work never said which
BLEU it used; method.md §8.2).

* BLEU-1..4: pycocoevalcap ``Bleu(4)``, corpus level (clipped n-gram counts pooled over the corpus, standard
  brevity penalty), the COCO-caption implementation most report-generation papers use;
* ROUGE-L: pycocoevalcap ``Rouge`` (LCS F-measure, beta 1.2), averaged over reports;
* CIDEr: pycocoevalcap ``Cider`` (TF-IDF from the evaluated references themselves);
* METEOR: pycocoevalcap ``Meteor`` (METEOR 1.5 jar; needs Java). Without Java it is reported as skipped, never 0.
Tokenisation: lower-case, punctuation split off, IU-Xray's ``XXXX`` de-identification placeholder kept as a token.
Clinical metrics (CheXbert, RadGraph F1) need models that are downloaded from the hub: they are reported as skipped
with the reason when their packages or weights cannot be loaded.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from typing import Any

from mmedrag.errors import ConfigError

REPORT_METRICS = ("bleu", "rouge_l", "cider", "meteor", "chexbert", "radgraph")
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def _skipped(reason: str) -> dict[str, Any]:
    return {"skipped": reason}


def report_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str] = ("bleu", "rouge_l", "cider", "meteor"),
) -> dict[str, Any]:
    """Corpus metrics for generated reports; each entry is a number or ``{"skipped": reason}``."""
    unknown = [m for m in metrics if m not in REPORT_METRICS]
    if unknown:
        raise ConfigError(f"unknown report metric(s) {unknown}; use {', '.join(REPORT_METRICS)}")
    if len(predictions) != len(references):
        raise ConfigError(f"{len(predictions)} predictions but {len(references)} references")
    results: dict[str, Any] = {
        "n": len(predictions),
        "empty_predictions": sum(not p.strip() for p in predictions),
        "implementation": "pycocoevalcap 1.2 (BLEU corpus-level, ROUGE-L beta 1.2, CIDEr, METEOR 1.5); "
        "lower-case regex tokenisation",
    }
    if not predictions:
        return results
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError:
        return {**results, **{m: _skipped("pip install 'mmedrag[eval]' (pycocoevalcap)") for m in metrics}}
    # pycocoevalcap wants {id: [sentence]}; an empty hypothesis would crash BLEU, so it becomes one empty token.
    hypotheses = {i: [tokenize(p) or "<empty>"] for i, p in enumerate(predictions)}
    golds = {i: [tokenize(r)] for i, r in enumerate(references)}
    if "bleu" in metrics:
        scores, _ = Bleu(4).compute_score(golds, hypotheses, verbose=0)
        results.update({f"bleu_{n}": float(s) for n, s in enumerate(scores, start=1)})
    if "rouge_l" in metrics:
        results["rouge_l"] = float(Rouge().compute_score(golds, hypotheses)[0])
    if "cider" in metrics:
        results["cider"] = float(Cider().compute_score(golds, hypotheses)[0])
    if "meteor" in metrics:
        results["meteor"] = _meteor(golds, hypotheses)
    for name in ("chexbert", "radgraph"):
        if name in metrics:
            results[name] = clinical_metric(name, predictions, references)
    return results


def _meteor(golds: dict[int, list[str]], hypotheses: dict[int, list[str]]) -> float | dict[str, Any]:
    if shutil.which("java") is None:
        return _skipped("METEOR needs Java (the METEOR 1.5 jar); install a JRE, e.g. apt-get install default-jre")
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        return float(scorer.compute_score(golds, hypotheses)[0])
    finally:
        scorer.meteor_p.kill()


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
