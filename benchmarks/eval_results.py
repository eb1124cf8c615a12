"""The evaluation numbers recorded in BENCHMARKS.md, reproducible by this one command (issue: evaluation).

1. IU-Xray closed questions (2,573; MMed-RAG's vqa_test) answered by the extractive generator from the gold report
   (an upper bound for extractive answering) and from the reference authors' own top-1 retrieved report; first the
   development set the answerer's rules were written on (RULE's preference questions about val-split images, with
   their own report and the retrieved report RULE showed), then the test set, run once;
2. VQA-RAD test closed questions with the offline default pipeline (the demo's trained image tower + MiniLM, MedPix
   2.0 knowledge base), with and without retrieval, plus the reliance diagnostics.

Needs: mmedrag data fetch mmed_rag_iuxray iu_xray_reports medpix2 vqa_rad (or MMEDRAG_DATA pointing at them).
Run:  .venv/bin/python benchmarks/eval_results.py --out BENCHMARKS.md   (about 3 minutes)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchlib import machine, write_section
from mmedrag.apps.demo import DemoSettings, default_work_dir, run_demo
from mmedrag.config import PipelineConfig
from mmedrag.datasets import data_root
from mmedrag.evaluation.alignment_questions import load_alignment_questions
from mmedrag.evaluation.closed_table import HEADER, markdown_rows
from mmedrag.evaluation.questions import load_questions
from mmedrag.evaluation.runner import EvalSettings, evaluate
from mmedrag.factory import build_pipeline


def _closed_rows(name: str, summary: dict) -> list[str]:
    return markdown_rows(name, summary["tasks"]["closed"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(data_root()), help="data folder (default: %(default)s)")
    parser.add_argument("--work-dir", default=str(default_work_dir()), help="demo cache (tower and index)")
    parser.add_argument("--out", help="BENCHMARKS.md to update (default: print only)")
    args = parser.parse_args(argv)
    data = Path(args.data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dev = load_alignment_questions(data / "mmed_rag_iuxray" / "rule_alignment.json")
        iu = load_questions(data / "mmed_rag_iuxray" / "vqa_test_retrieved_top1.jsonl", "mmed_rag")
        extractive = build_pipeline(PipelineConfig())
        for questions, split, (source, label) in (
            (dev, "dev", ("gold_report", "IU-Xray dev (RULE, val images), own report")),
            (dev, "dev", ("reference_reports", "IU-Xray dev (RULE, val images), RULE's retrieved report")),
            (iu, "test", ("gold_report", "IU-Xray test, gold report")),
            (iu, "test", ("reference_reports", "IU-Xray test, authors' top-1")),
        ):
            settings = EvalSettings(references=source, images=False)
            result = evaluate(extractive, questions, Path(tmp) / f"{split}_{source}", settings)
            rows += _closed_rows(label, result["summary"])
            if split == "test":
                unparsable = result["summary"]["tasks"]["closed"]["unparsable_gold"]
        demo = run_demo(DemoSettings(data, Path(args.work_dir)), log=lambda m: print(m, file=sys.stderr))
        vqa = load_questions(data / "vqa_rad", "vqa_rad", split="test", task="closed")
        config = PipelineConfig.model_validate({"index": demo["index"]["path"], "selector": {"k": 3}})
        result = evaluate(build_pipeline(config), vqa, Path(tmp) / "vqa", EvalSettings(reliance=True))
        reliance = result["summary"]["reliance"]
        rows += _closed_rows("VQA-RAD test, image->report top-3", result["summary"])
    lines = [
        "## Evaluation (`benchmarks/eval_results.py`)",
        "",
        f"Machine: {machine()}. Extractive generator (no VLM; policy unmentioned=absent_if_complete, hedged=yes); "
        "accuracy, balanced accuracy and F1 count abstentions as wrong and are computed over questions whose gold "
        f"answer parses as yes/no ({unparsable} IU-Xray test answers do not); 95% bootstrap intervals in brackets; "
        "under each run, the majority-answer baseline on the same questions, and where the reference scorer (CARES "
        "eval_yesno.py, every question scored) reads answers and labels into other numbers, its row. The dev rows "
        "are RULE's preference questions "
        "(val-split images, the chosen answer as truth; RULE picked retrieved reports that mislead, so the "
        "retrieved-report dev row is adversarial by construction); the answerer's rules were written on the dev "
        "own-report row only, and the test rows were run once.",
        "",
        *HEADER,
        *rows,
        "",
        f"VQA-RAD reliance (n={reliance['n']}): "
        f"accuracy without retrieval {reliance['accuracy_without_retrieval']:.3f}, "
        f"with retrieval {reliance['accuracy_with_retrieval']:.3f}; retrieval helped {reliance['retrieval_helps']} and "
        f"hurt {reliance['retrieval_hurts']} questions; over-reliance rate {reliance['over_reliance_rate']:.3f}; "
        f"copy-reference rate {reliance['copy_reference_rate']:.3f}. The extractive answerer never looks at the "
        "image, so with a noise image it still gets right everything it got right with the real one: the "
        "copy-reference rate equals its accuracy with retrieval when every answer is given (the reliance runs give "
        "every answer; the main run withholds weakly supported ones, hence its lower accuracy and its abstentions).",
    ]
    print("\n".join(lines))
    if args.out:
        write_section(args.out, "eval_results", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
