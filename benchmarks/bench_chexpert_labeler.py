"""How well the rule-based CheXpert-14 labeler (mmedrag.evaluation.chexpert) agrees with the MeSH terms Open-i's
indexers gave each IU-Xray report (shared/data/iu_xray_reports), per observation.

MeSH major headings are mapped to CheXpert observations (``chexpert.OPEN_I_MESH``; "normal" is No Finding); a
report counts when its MeSH list is indexed ("No Indexing" reports are left out). The labeler reads FINDINGS +
IMPRESSION; its positive labels (1) are compared with the mapped MeSH terms. Observations MeSH never gives have no row.

Where medspaCy is installed (it is not a dependency: ``pip install medspacy``), the same mention patterns are also
labelled by medspaCy's ConText (negated -> 0, uncertain or hypothetical -> -1, else 1), so the two negation and
uncertainty readers are compared on the same mentions; the better one is the one mmedrag keeps.

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


def context_labeler():  # noqa: ANN201 - medspaCy is optional and untyped
    """A labeler that reads the same mention patterns with medspaCy's ConText, or None without medspaCy."""
    try:
        import medspacy
        from loguru import logger
        from medspacy.ner import TargetRule
    except ImportError:
        return None
    from mmedrag.evaluation.chexpert import NORMALS, OBSERVATIONS

    logger.remove()  # PyRuSH logs every sentence split at DEBUG
    nlp = medspacy.load()
    rules = [TargetRule(name, name, pattern=rf"\b{p}") for name, patterns in OBSERVATIONS.items() for p in patterns]
    rules += [
        TargetRule(name, f"{name}:normal", pattern=rf"\b{p}") for name, patterns in NORMALS.items() for p in patterns
    ]
    nlp.get_pipe("medspacy_target_matcher").add(rules)
    precedence = {1: 3, -1: 2, 0: 1}

    def positives_of(text: str) -> set[str]:
        labels: dict[str, int] = {}
        for entity in nlp(text.lower()).ents:
            name, normal = entity.label_.removesuffix(":normal"), entity.label_.endswith(":normal")
            uncertain = entity._.is_uncertain or entity._.is_hypothetical
            label = 0 if normal or entity._.is_negated else -1 if uncertain else 1
            if precedence[label] > precedence.get(labels.get(name, -2), 0):
                labels[name] = label
        found = {name for name, label in labels.items() if label == 1}
        others = [label for name, label in labels.items() if name != "Support Devices"]
        return found if any(label in (1, -1) for label in others) else found | {"No Finding"}

    return positives_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "iu_xray_reports" / "reports.jsonl")
    parser.add_argument("--out", help="write the section into this BENCHMARKS.md")
    args = parser.parse_args()
    reports = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    indexed = [r for r in reports if r["mesh_major"] and "No Indexing" not in r["mesh_major"]]
    indexed = [r for r in indexed if r.get("findings") or r.get("impression")]
    texts = [f"{r.get('findings') or ''} {r.get('impression') or ''}" for r in indexed]
    reference = [mesh_observations(r["mesh_major"]) for r in indexed]
    names = [n for n in CHEXPERT_14 if any(n in r for r in reference)]
    labelers = {"mmedrag rules (NegEx)": positives}
    context = context_labeler()
    if context is not None:
        labelers["medspaCy ConText"] = context
    results, seconds = {}, {}
    for label, labeler in labelers.items():
        started = time.perf_counter()
        predicted = [labeler(t) for t in texts]
        seconds[label] = time.perf_counter() - started
        results[label] = positive_agreement(predicted, reference, names)
    header = " | ".join(f"{label}: P / R / F1" for label in labelers)

    def cells(metrics: dict) -> str:
        return f"{metrics['precision']:.3f} / {metrics['recall']:.3f} / {metrics['f1']:.3f}"

    rows = [
        f"| {name} | {results[next(iter(results))]['per_observation'][name]['support']} | "
        + " | ".join(cells(r["per_observation"][name]) for r in results.values())
        + " |"
        for name in names
    ]
    for key, title in (("micro", "micro"), ("macro", "macro"), ("micro_5", "micro, 5 competition observations")):
        rows.append(f"| **{title}** |  | " + " | ".join(f"**{cells(r[key])}**" for r in results.values()) + " |")
    timing = ", ".join(f"{label} {s:.1f} s" for label, s in seconds.items())
    body = "\n".join(
        [
            "## CheXpert-14 labeler against Open-i MeSH (`benchmarks/bench_chexpert_labeler.py`)",
            "",
            f"Machine: {machine()}. {len(indexed)} indexed IU-Xray reports (findings + impression), labelled in "
            f"{timing}; positive labels against the observations the reports' MeSH major terms name (mapping: "
            "`chexpert.OPEN_I_MESH`). Both labelers read the same mention patterns; they differ in how negation and "
            "uncertainty are read. MeSH indexers list what a report states, so this is agreement with a second "
            'reading, not accuracy against images; MeSH "normal" also excludes findings outside the 14.',
            "",
            f"| observation | MeSH positives | {header} |",
            "|---|--:|" + "--:|" * len(labelers),
            *rows,
        ]
    )
    print(body)
    if args.out:
        write_section(args.out, "bench_chexpert_labeler", body)


if __name__ == "__main__":
    main()
