"""What the concept graph (the Human Phenotype Ontology, docs/concepts/knowledge.md) buys, measured honestly.

1. Closed questions, every answer given (the literature's setting), extractive reader, KG off vs on, beside the
   majority answer and balanced accuracy: RULE's IU-Xray alignment questions with the gold report (development: the
   graph was built and its rules chosen on these), then MMed-RAG's IU-Xray test questions once, with the authors'
   top-1 retrieved report and with the gold report.
2. Concept linking against the MeSH "major" headings Open-i ships with each IU-Xray report: each heading's main term
   (MeSH's inverted "Hernia, Hiatal" read as "Hiatal Hernia") looked up in the graph; headings no HPO concept names
   are left out, and so are linked concepts no heading maps to (precision is over the mappable vocabulary). A
   linked concept also counts for the concepts it is a kind of. Reports with an even number were the development
   half; the odd half is reported. Only links made from the report text are measured: `mmedrag kg link` also stores
   the headings themselves as links (source "mesh"), which would be the gold scored against itself.

Run:  .venv/bin/python benchmarks/bench_kg.py --data /work/shared/data [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine, write_section  # noqa: E402


def closed_rows(questions: list[Any], source: str, graph: Any) -> dict[str, float]:
    from mmedrag.evaluation.closed import closed_metrics, parse_yes_no
    from mmedrag.evaluation.judges import Judge
    from mmedrag.evaluation.runner import EvalSettings, answer_all
    from mmedrag.generation.extractive import ExtractiveGenerator
    from mmedrag.generation.prompts import PromptBuilder
    from mmedrag.pipeline import Bundle, RAGPipeline

    pipeline = RAGPipeline(ExtractiveGenerator(), Bundle(prompts=PromptBuilder(knowledge=graph))).leaning()
    rows = answer_all(pipeline, questions, EvalSettings(references=source, images=False), Judge())["main"]  # type: ignore[arg-type]
    metrics = closed_metrics([r["label"] for r in rows], [parse_yes_no(r["gold"]) for r in rows])
    keys = ("n", "accuracy", "balanced_accuracy", "majority_accuracy")
    return {key: metrics[key] for key in keys}


def linking(reports: Path, graph: Any) -> dict[str, Any]:
    from mmedrag.kg.links import REPORT_RELATIONS, TEXT, link_text
    from mmedrag.kg.mesh import main_heading

    rows = [json.loads(line) for line in reports.open(encoding="utf-8")]

    def gold_of(row: dict[str, Any]) -> set[str]:
        found = (graph.find(main_heading(m), limit=1, relations=REPORT_RELATIONS) for m in row["mesh_major"])
        return {hits[0].id for hits in found if hits}

    vocabulary = set().union(*(gold_of(row) for row in rows))
    held_out = [row for row in rows if int(row["uid"][3:]) % 2 == 1]
    tp = fp = fn = 0
    for row in held_out:
        text = " ".join(part for part in (row["findings"], row["impression"]) if part)
        # The report text alone, never the record's MeSH annotation: that is the gold.
        links = link_text(graph, text)
        assert all(link.source == TEXT for link in links)
        present = {link.concept for link in links if link.status == "present"}
        credited = present | {a for concept in present for a in graph.ancestors(concept)}
        gold = gold_of(row)
        broader = {a for concept in gold for a in graph.ancestors(concept)}
        tp += len(credited & gold)
        fp += len((present & vocabulary) - gold - broader)
        fn += len(gold - credited)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"reports": len(held_out), "vocabulary": len(vocabulary), "precision": precision, "recall": recall, "f1": f1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with mmed_rag_iuxray/ and iu_xray_reports/")
    parser.add_argument("--write", action="store_true", help="update the bench_kg section of BENCHMARKS.md")
    args = parser.parse_args()
    from mmedrag.evaluation.alignment_questions import load_alignment_questions
    from mmedrag.io.readers.mmed_rag import read_mmed_rag
    from mmedrag.kg.load import open_graph
    from mmedrag.types import Question

    started = time.perf_counter()
    graph = open_graph("hpo")
    folder = args.data / "mmed_rag_iuxray"
    dev = [q for q in load_alignment_questions(folder / "rule_alignment.json") if q.task == "closed"]
    test = [q for q in read_mmed_rag(folder / "vqa_test_retrieved_top1.jsonl") if isinstance(q, Question)]
    table = []
    for name, questions, source in (
        ("dev: RULE alignment (val), gold report", dev, "gold_report"),
        ("test: MMed-RAG IU-Xray, authors' top-1 report", test, "reference_reports"),
        ("test: MMed-RAG IU-Xray, gold report", test, "gold_report"),
    ):
        off, on = closed_rows(questions, source, None), closed_rows(questions, source, graph)
        table.append((name, off, on))
        print(name, json.dumps({"off": off, "on": on}), flush=True)
    links = linking(args.data / "iu_xray_reports" / "reports.jsonl", graph)
    print("linking", json.dumps(links), flush=True)
    rows = [
        f"| {name} | {off['n']} | {off['majority_accuracy']:.4f} | {off['accuracy']:.4f} | {on['accuracy']:.4f} "
        f"| {off['balanced_accuracy']:.4f} | {on['balanced_accuracy']:.4f} |"
        for name, off, on in table
    ]
    body = "\n".join(
        [
            "## Knowledge graph: what HPO buys (`benchmarks/bench_kg.py`)",
            "",
            f"Machine: {machine()}. {time.perf_counter() - started:.0f} s. Extractive reader, every answer given.",
            "",
            "| questions, references | n | majority | accuracy, KG off | KG on | balanced acc., KG off | KG on |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Concept linking against Open-i's MeSH major headings (held-out half, {links['reports']} reports, "
            f"{links['vocabulary']} MeSH-mappable concepts): precision {links['precision']:.3f}, recall "
            f"{links['recall']:.3f}, F1 {links['f1']:.3f}.",
        ]
    )
    if args.write:
        write_section(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "bench_kg", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
