"""``mmedrag demo``: the README's main command (see :mod:`mmedrag.apps.demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress


class DemoCommand(Command):
    name = "demo"
    help = "run the offline end-to-end demo on MedPix 2.0 + VQA-RAD and IU-Xray"
    description = """Part 1: build a knowledge base from MedPix 2.0, train a small image tower against the frozen
MiniLM text encoder (about a minute on 2 CPU cores), and answer VQA-RAD's held-out closed questions with and
without retrieval. Part 2: answer MMed-RAG's IU-Xray closed test questions with no reference, with the reference
authors' top-1 retrieved report and with the gold report (the ceiling). Each table shows accuracy, balanced
accuracy and F1 with 95% bootstrap intervals beside the majority answer; the run ends with an evidence card (the
deciding sentence highlighted in the cited case). The tower and the index are cached in --work-dir, so a second
run takes seconds.

The data (MedPix 2.0 and VQA-RAD) is read from --data, else $MMEDRAG_DATA, else ~/.cache/mmedrag/data; what is
missing there is fetched first with `mmedrag data fetch` (about 103 MB; MedPix's terms are unclear, so the demo asks,
or needs --accept-licence when not run from a terminal).

examples:
  mmedrag demo --accept-licence
  MMEDRAG_DATA=/data/mmedrag mmedrag demo --json > demo.json"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from mmedrag.apps.demo import default_work_dir

        parser.add_argument(
            "--data", help="folder with medpix2/ and vqa_rad/ (default: $MMEDRAG_DATA, else ~/.cache/mmedrag/data)"
        )
        parser.add_argument(
            "--accept-licence", action="store_true", help="accept the datasets' licences if they must be fetched"
        )
        parser.add_argument(
            "--work-dir",
            default=str(default_work_dir()),
            help="cache for the tower and the index (default: %(default)s)",
        )
        parser.add_argument("-k", type=int, default=3, help="references per question (default 3)")
        parser.add_argument("--epochs", type=int, default=20, help="image tower training epochs (default 20)")
        parser.add_argument("--limit", type=int, help="answer only the first N questions")
        parser.add_argument("--retrain", action="store_true", help="train the tower and rebuild the index anew")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.apps.demo import DemoSettings, run_demo
        from mmedrag.cli.data import confirm_licence
        from mmedrag.datasets import ensure_datasets

        data_dir = ensure_datasets(  # fetches what is missing, saying what and how big first
            ("medpix2", "vqa_rad"),
            args.data,
            accept_licence=args.accept_licence,
            confirm=confirm_licence,
            log=log,
            progress=show_progress(args),
        )
        settings = DemoSettings(
            data_dir=data_dir,
            work_dir=Path(args.work_dir),
            k=args.k,
            epochs=args.epochs,
            limit=args.limit,
            retrain=args.retrain,
            progress=show_progress(args),
        )
        result = run_demo(settings, log=log)
        if args.json:
            emit_json(result)
        else:
            _print_report(result)
        return 0


def _with_ci(row: dict, name: str) -> str:
    interval = row.get(f"{name}_ci")
    return f"{row[name]:.3f} [{interval[0]:.2f}-{interval[1]:.2f}]" if interval else f"{row[name]:.3f}"


def _closed_table(title: str, rows: list[dict]) -> Any:
    """A rich table of closed-question runs on the same questions, with their majority-answer baseline last."""
    from rich.table import Table

    table = Table(title=title)
    for column in (
        "pipeline",
        "accuracy [95% CI]",
        "balanced acc. [95% CI]",
        "F1 (yes) [95% CI]",
        "answered acc.",
        "abstentions",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for row in rows:
        table.add_row(
            row["name"],
            _with_ci(row, "accuracy"),
            _with_ci(row, "balanced_accuracy"),
            _with_ci(row, "f1"),
            f"{row['answered_accuracy']:.3f}",
            f"{row['abstention_rate']:.3f}",
            f"{row['seconds']:.2f}",
        )
    first = rows[0]
    if first.get("n"):  # every row answers the same questions: one majority-answer baseline for all
        baseline = {"accuracy": first["majority_accuracy"], "accuracy_ci": first.get("majority_accuracy_ci")}
        table.add_row(
            f"majority answer (always {first['majority_answer']!r})",
            _with_ci(baseline, "accuracy"),
            f"{first['majority_balanced_accuracy']:.3f}",
            f"{first['majority_f1']:.3f}",
            f"{first['majority_accuracy']:.3f}",
            "0.000",
            "–",
            style="dim",
        )
    return table


def _evidence_card(card: dict) -> Any:
    """The worked IU-Xray example as a panel: question, answer, the cited report with the deciding sentence lit."""
    from rich.markup import escape
    from rich.panel import Panel

    report, sentence = card["cited_report"], card["deciding_sentence"]
    head, found, tail = report.partition(sentence)
    cited = f"{escape(head)}[bold black on yellow]{escape(sentence)}[/]{escape(tail)}" if found else escape(report)
    case = card["cited_case"] or "(no Open-i id found)"
    body = (
        f"[bold]Q[/bold] {escape(card['question'])}   [dim](gold: {escape(card['gold'])})[/dim]\n"
        f"[bold]A[/bold] {escape(card['answer'].split('Reference')[0].strip())} "
        f"[dim](decided by the highlighted sentence)[/dim]\n\n"
        f"[bold]cited case[/bold] {escape(case)}: the authors' top-1 retrieval for {escape(str(card['image']))}\n"
        f"{cited}"
    )
    return Panel(body, title=f"Evidence card {card['question_id']}", expand=False)


def _print_report(result: dict) -> None:
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 132)  # logs and CI: do not wrap the table at 80
    tower = result["tower"]
    recall = ", ".join(f"{k} {v:.3f}" for k, v in tower["held_out_recall"].items())
    console.print(
        f"[bold]Image tower[/bold] ({'reused' if tower['reused'] else 'trained'}, {tower['epochs']} epochs): "
        f"held-out image->report {recall} over {tower['held_out_pairs']} pairs "
        f"(chance R@1 {tower['chance_R@1']:.3f})"
    )
    title = (
        f"Part 1. VQA-RAD test closed questions (n={result['queries']['count']}), "
        f"knowledge base MedPix 2.0 ({result['knowledge_base']['records']} images), extractive generator"
    )
    console.print(_closed_table(title, result["rows"]))
    example = result.get("example")
    if example:
        console.print(f"[bold]Worked example[/bold] {example['question_id']} ({example['image']})")
        console.print(f"  Q: {example['question']}   gold: {example['gold']}")
        console.print(f"  A: {example['answer']}")
        for number, cite in enumerate(example["citations"], start=1):
            # One line per citation, cut with an ellipsis at the terminal's width rather than wrapped mid-word.
            line = f"  [{number}] {cite['id']}  score {cite['score']:.3f}  {cite['first_line']}"
            console.print(line, no_wrap=True, overflow="ellipsis", markup=False)
    iuxray = result.get("iuxray")
    if iuxray:
        title = (
            f"Part 2. IU-Xray closed test questions (MMed-RAG, n={iuxray['count']}): what the knowledge base can "
            "answer, extractive generator"
        )
        console.print(_closed_table(title, iuxray["rows"]))
        if iuxray.get("card"):
            console.print(_evidence_card(iuxray["card"]))
    console.print(f"done in {result['seconds']:.1f} s; cache in {Path(result['index']['path']).parent}")
