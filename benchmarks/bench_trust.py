"""Benchmark the answers a reader is shown: coverage, accuracy on answered questions, AURC against the majority
answer's and the calibration error of the confidence, on the demo's two question sets (VQA-RAD test with the MedPix
2.0 knowledge base; IU-Xray test with the authors' top-1 report and with the gold report).

The confidence is calibrated on development questions only (VQA-RAD train; RULE's IU-Xray val questions), each fitted
on one half and its ECE reported on the other ("held-out ECE": the goal is at most 0.05); the test questions are
answered once. It runs the demo (``mmedrag.apps.demo.run_demo``) with its cache, so a second run takes minutes.

Goals (issue "Answers a clinician can trust"): on VQA-RAD test, accuracy on answered questions of at least 0.90 or
the coverage at which it falls shown; AURC below the majority answer's; held-out ECE at most 0.05.

Run:  .venv/bin/python benchmarks/bench_trust.py --data /work/shared/data --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchlib import machine, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with medpix2/, vqa_rad/, mmed_rag_iuxray/")
    parser.add_argument("--work-dir", type=Path, help="the demo's cache (default: the demo's)")
    parser.add_argument("--out", type=Path, help="BENCHMARKS.md to write the section into")
    parser.add_argument("--json", action="store_true", help="print the demo's result as JSON")
    args = parser.parse_args(argv)

    from mmedrag.apps.demo import DemoSettings, default_work_dir, run_demo
    from mmedrag.cli.demo import markdown_report

    settings = DemoSettings(data_dir=args.data, work_dir=args.work_dir or default_work_dir())
    result = run_demo(settings, log=lambda line: print(line, file=sys.stderr))
    body = "\n".join(
        [
            "## Answers a clinician can trust: coverage, AURC, ECE (`benchmarks/bench_trust.py`)",
            "",
            f"Machine: {machine()}. Extractive generator; every answer graded by its evidence, weak evidence and "
            "answers below 0.5 confidence withheld; AURC ranks every answer, shown or withheld, by its confidence "
            "(abstentions with no answer last, as errors). The held-out ECE lines are the calibration split's other "
            "half; the ECE column is the test answers shown.",
            "",
            markdown_report(result),
        ]
    )
    if args.out:
        write_section(args.out, "bench_trust", body)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
