"""Run Learn-then-Test on a calibration split: answer every question with each candidate k, measure the
factuality risk, certify k values, and tune the gap rule's γ on the same answers.

Retrieval runs once per question (``fetch_k`` = the largest candidate); each k only re-selects and generates, and
generations are cached by prompt, so a k (or a γ) that leads to the same references costs nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmedrag._optional import available
from mmedrag.calibration.ltt import CalibrationResult, Method, calibrate
from mmedrag.errors import ConfigError
from mmedrag.evaluation.judges import Judge
from mmedrag.generation.cache import CachedGenerator
from mmedrag.pipeline import RAGPipeline
from mmedrag.progress import batches, track
from mmedrag.retrieval.context import ContextSelector, GapCutoff, TopK
from mmedrag.types import Question


def _with_fetch_k(pipeline: RAGPipeline, fetch_k: int) -> RAGPipeline:
    bundles = {name: replace(bundle, fetch_k=max(bundle.fetch_k, fetch_k)) for name, bundle in pipeline.bundles.items()}
    default = replace(pipeline.default, fetch_k=max(pipeline.default.fetch_k, fetch_k))
    return replace(pipeline, default=default, bundles=bundles)


def error_counts(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    selectors: dict[str, ContextSelector],
    judge: Judge,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, int]:
    """Wrong answers per named selector over ``questions`` (retrieving once per question)."""
    errors = dict.fromkeys(selectors, 0)
    chunks = batches(list(questions), batch_size)
    for chunk in track(chunks, "calibrating", total=len(chunks), enabled=progress):
        planned = pipeline.plan([q.to_query() for q in chunk])
        for name, selector in selectors.items():
            answers = pipeline.with_selector(selector).respond(planned)
            errors[name] += sum(
                not judge.correct(q.task, a.text, q.answer) for q, a in zip(chunk, answers, strict=True)
            )
    return errors


def run_calibration(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    candidates: Sequence[int],
    alpha: float,
    delta: float,
    out_dir: str | Path,
    method: Method = "bonferroni",
    order: Sequence[int] | None = None,
    gammas: Sequence[float] = (),
    judge: Judge | None = None,
    progress: bool = False,
) -> CalibrationResult:
    """Calibrate k on ``questions``; writes ``calibration.json``, ``calibration.md`` and ``calibration.png``.

    Raises:
        ConfigError: no candidates, or candidates below 0.
    """
    if not candidates or min(candidates) < 0:
        raise ConfigError(f"candidate k values must be >= 0, got {list(candidates)}")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judge = judge or Judge()
    cached = CachedGenerator(pipeline.generator, out / "answers.sqlite")
    # Risk of the generator's own answers at each k (RULE's FR(k)), weakly supported ones included.
    pipeline = replace(_with_fetch_k(pipeline, max(candidates)), generator=cached).leaning()
    selectors: dict[str, ContextSelector] = {f"k={k}": TopK(k) for k in candidates}
    selectors.update({f"gamma={g}": GapCutoff(g, k_min=1, k=max(candidates)) for g in gammas})
    errors = error_counts(pipeline, questions, selectors, judge, progress=progress)
    n = len(questions)
    result = calibrate({k: errors[f"k={k}"] / n for k in candidates}, n, alpha, delta, method, order)
    gamma_table = {g: 1 - errors[f"gamma={g}"] / n for g in gammas}
    result.meta = {
        "questions": n,
        "judge": vars(judge),
        "gamma_accuracy": gamma_table,
        "best_gamma": max(gamma_table, key=lambda g: (gamma_table[g], -g)) if gamma_table else None,
        "generator": pipeline.generator.name,
        "cache": {"hits": cached.hits, "misses": cached.misses},
        "seconds": round(time.perf_counter() - started, 2),
    }
    result.save(out / "calibration.json")
    (out / "calibration.md").write_text(render_table(result), encoding="utf-8")
    if available("matplotlib"):  # the plot is optional (eval extra); the JSON and table carry every number
        plot_calibration(result, out / "calibration.png")
    return result


def render_table(result: CalibrationResult) -> str:
    level = result.delta / len(result.candidates) if result.method == "bonferroni" else result.delta
    lines = [
        f"Learn-then-Test ({result.method}), alpha={result.alpha}, delta={result.delta}, n={result.n}: "
        f"k* = {result.k_star if result.k_star is not None else 'none certified'}",
        "",
        f"| k | empirical risk | upper bound (level {level:.3g}) | p-value | certified |",
        "|--:|--:|--:|--:|:-:|",
    ]
    for k in result.candidates:
        lines.append(
            f"| {k} | {result.risks[k]:.4f} | {result.bounds[k]:.4f} | {result.pvalues[k]:.3g} | "
            f"{'yes' if k in result.certified else 'no'} |"
        )
    gammas: dict[Any, float] = result.meta.get("gamma_accuracy") or {}
    if gammas:
        lines += ["", "| gap rule gamma | accuracy |", "|--:|--:|"]
        lines += [f"| {g} | {acc:.4f} |" for g, acc in gammas.items()]
    return "\n".join(lines) + "\n"


def plot_calibration(result: CalibrationResult, path: Path) -> None:
    """Empirical risk and its upper confidence bound against k, with α: where bound < α, k is certified."""
    from mmedrag._optional import require

    require("matplotlib", "eval")
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    ks = result.candidates
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(ks, [result.risks[k] for k in ks], "o-", label="empirical risk")
    axis.plot(ks, [result.bounds[k] for k in ks], "s--", label="upper confidence bound")
    axis.axhline(result.alpha, color="red", linewidth=1, label=f"alpha = {result.alpha}")
    for k in result.certified:
        axis.axvspan(k - 0.3, k + 0.3, color="green", alpha=0.12)
    axis.set(xlabel="number of references k", ylabel="factuality risk", title="Calibrated k (green: certified)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
