"""How well the rule-based CheXpert-14 labeler (mmedrag.evaluation.chexpert) agrees with the MeSH terms Open-i's
indexers gave each IU-Xray report (shared/data/iu_xray_reports), per observation.

MeSH major headings are mapped to CheXpert observations (``chexpert.OPEN_I_MESH``; "normal" is No Finding); a
report counts when its MeSH list is indexed ("No Indexing" reports are left out). The labeler reads FINDINGS +
IMPRESSION; its positive labels (1) are compared with the mapped MeSH terms. Observations MeSH never gives have no row.

    .venv/bin/python benchmarks/bench_chexpert_labeler.py --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchlib import machine, write_section
from mmedrag.evaluation.chexpert import CHEXPERT_14, mesh_observations, positive_agreement, positives

DATA = Path(os.environ.get("MMEDRAG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "iu_xray_reports" / "reports.jsonl")
    parser.add_argument("--out", help="write the section into this BENCHMARKS.md")
    args = parser.parse_args()
    reports = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    indexed = [r for r in reports if r["mesh_major"] and "No Indexing" not in r["mesh_major"]]
    indexed = [r for r in indexed if r.get("findings") or r.get("impression")]
    started = time.perf_counter()
    predicted = [positives(f"{r.get('findings') or ''} {r.get('impression') or ''}") for r in indexed]
    seconds = time.perf_counter() - started
    reference = [mesh_observations(r["mesh_major"]) for r in indexed]
    names = [n for n in CHEXPERT_14 if any(n in r for r in reference)]
    result = positive_agreement(predicted, reference, names)
    rows = [
        f"| {name} | {v['support']} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |"
        for name, v in result["per_observation"].items()
    ]
    micro, macro, five = result["micro"], result["macro"], result["micro_5"]
    body = "\n".join(
        [
            "## CheXpert-14 labeler against Open-i MeSH (`benchmarks/bench_chexpert_labeler.py`)",
            "",
            f"Machine: {machine()}. {len(indexed)} indexed IU-Xray reports (findings + impression) labelled in "
            f"{seconds:.1f} s; the rule labeler's positive labels against the observations the reports' MeSH major "
            "terms name (mapping: `chexpert.OPEN_I_MESH`). MeSH indexers list what a report states, mostly without its "
            "negated findings, so this is agreement with a second reading, not accuracy against images.",
            "",
            "| observation | MeSH positives | precision | recall | F1 |",
            "|---|--:|--:|--:|--:|",
            *rows,
            f"| **micro** |  | {micro['precision']:.3f} | {micro['recall']:.3f} | {micro['f1']:.3f} |",
            f"| **macro** |  | {macro['precision']:.3f} | {macro['recall']:.3f} | {macro['f1']:.3f} |",
            f"| **micro, 5 competition observations** |  | {five['precision']:.3f} | {five['recall']:.3f} | "
            f"{five['f1']:.3f} |",
        ]
    )
    print(body)
    if args.out:
        write_section(args.out, "bench_chexpert_labeler", body)


if __name__ == "__main__":
    main()
