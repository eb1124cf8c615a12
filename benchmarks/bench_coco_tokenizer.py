"""How far the Python PTBTokenizer fallback moves the COCO report metrics from the Java tokenizer's, on real
IU-Xray reports (the Open-i reports in shared/data/iu_xray_reports).

Every report with both sections gives three systems scored against its FINDINGS: its own IMPRESSION (a related
text), the FINDINGS of the next report (an unrelated one) and a constant normal report. Each system is scored with
``mmedrag.evaluation.report_metrics`` under the coco protocol twice, tokenised by the jar and by the Python
re-implementation; the table gives the largest absolute difference per metric. Needs Java and pycocoevalcap.

    .venv/bin/python benchmarks/bench_coco_tokenizer.py --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchlib import machine, write_section
from mmedrag.evaluation.report_metrics import report_metrics
from mmedrag.evaluation.report_tokens import ptb_tokenize, ptb_tokenize_python

DATA = Path(os.environ.get("MMEDRAG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
METRICS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider", "meteor")
NORMAL = "The heart size is normal. The lungs are clear. No pleural effusion or pneumothorax."


def systems(reports: list[dict]) -> dict[str, tuple[list[str], list[str]]]:
    both = [r for r in reports if r.get("findings") and r.get("impression")]
    findings = [r["findings"] for r in both]
    return {
        "own impression": ([r["impression"] for r in both], findings),
        "next report's findings": (findings[1:] + findings[:1], findings),
        "constant normal report": ([NORMAL] * len(findings), findings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "iu_xray_reports" / "reports.jsonl")
    parser.add_argument("--out", help="write the section into this BENCHMARKS.md")
    args = parser.parse_args()
    reports = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    texts = [r[f] for r in reports for f in ("findings", "impression", "indication", "comparison") if r.get(f)]
    java_tokens, _ = ptb_tokenize(texts, "java")
    same = sum(ptb_tokenize_python(t) == j for t, j in zip(texts, java_tokens, strict=True))
    rows, worst = [], dict.fromkeys(METRICS, 0.0)
    started = time.perf_counter()
    for name, (predictions, references) in systems(reports).items():
        java = report_metrics(predictions, references, protocol="coco", tokenizer="java")
        python = report_metrics(predictions, references, protocol="coco", tokenizer="python")
        differences = {m: abs(java[m] - python[m]) for m in METRICS}
        worst = {m: max(worst[m], differences[m]) for m in METRICS}
        cells = " | ".join(f"{java[m]:.4f} / {differences[m]:.1e}" for m in METRICS)
        rows.append(f"| {name} (n={len(predictions)}) | {cells} |")
    body = "\n".join(
        [
            "## COCO tokenizer fallback (`benchmarks/bench_coco_tokenizer.py`)",
            "",
            f"Machine: {machine()}. {len(texts)} IU-Xray report sections (findings, impression, indication, "
            f"comparison): the Python fallback gives the PTBTokenizer jar's tokens exactly for {same} "
            f"({same / len(texts):.1%}). Each cell: the metric with the jar's tokens / the absolute difference with "
            f"the fallback's; references are each report's findings. {time.perf_counter() - started:.0f} s.",
            "",
            "| prediction | " + " | ".join(METRICS) + " |",
            "|---" + "|--:" * len(METRICS) + "|",
            *rows,
            "| **largest difference** | " + " | ".join(f"**{worst[m]:.1e}**" for m in METRICS) + " |",
        ]
    )
    print(body)
    if args.out:
        write_section(args.out, "bench_coco_tokenizer", body)


if __name__ == "__main__":
    main()
