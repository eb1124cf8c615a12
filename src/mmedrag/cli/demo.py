"""``mmedrag demo``: the README's main command (see :mod:`mmedrag.apps.demo`)."""

from __future__ import annotations

import argparse
import shutil
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
        parser.add_argument(
            "--readme",
            type=Path,
            help="rewrite the results section of this README (between its demo-results markers) and copy the "
            "risk-coverage plot beside it as docs/demo-risk-coverage.png",
        )
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
        if args.readme:
            write_readme(args.readme, result)
            if result.get("plot"):
                shutil.copyfile(result["plot"], args.readme.parent / "docs" / "demo-risk-coverage.png")
            log(f"rewrote the demo results in {args.readme}")
        if args.json:
            emit_json(result)
        else:
            _print_report(result)
        return 0


def _with_ci(row: dict, name: str) -> str:
    interval = row.get(f"{name}_ci")
    return f"{row[name]:.3f} [{interval[0]:.2f}-{interval[1]:.2f}]" if interval else f"{row[name]:.3f}"


COLUMNS = (
    "pipeline",
    "coverage",
    "acc. on answered",
    "accuracy [95% CI]",
    "balanced acc. [95% CI]",
    "F1 (yes)",
    "AURC",
    "ECE",
)


def _cells(row: dict) -> list[str]:
    ece = "–" if row.get("ece") is None else f"{row['ece']:.3f}"
    return [
        row["name"],
        f"{row['coverage']:.3f}",
        f"{row['answered_accuracy']:.3f}",
        _with_ci(row, "accuracy"),
        _with_ci(row, "balanced_accuracy"),
        f"{row['f1']:.3f}",
        f"{row['aurc']:.3f}",
        ece,
    ]


def _majority_cells(first: dict) -> list[str]:
    baseline = {"accuracy": first["majority_accuracy"], "accuracy_ci": first.get("majority_accuracy_ci")}
    return [
        f"majority answer (always {first['majority_answer']!r})",
        "1.000",
        f"{first['majority_accuracy']:.3f}",
        _with_ci(baseline, "accuracy"),
        f"{first['majority_balanced_accuracy']:.3f}",
        f"{first['majority_f1']:.3f}",
        f"{first['majority_aurc']:.3f}",
        "–",
    ]


def _closed_table(title: str, rows: list[dict]) -> Any:
    """A rich table of closed-question runs on the same questions, with their majority-answer baseline last."""
    from rich.table import Table

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for row in rows:
        table.add_row(*_cells(row))
    if rows[0].get("n"):  # every row answers the same questions: one majority-answer baseline for all
        table.add_row(*_majority_cells(rows[0]), style="dim")
    return table


def markdown_table(rows: list[dict]) -> str:
    """The same table in Markdown, as the README shows it (regenerated by ``mmedrag demo --readme``)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" + "|--:" * (len(COLUMNS) - 1) + "|"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    lines.append("| " + " | ".join(_majority_cells(rows[0])) + " |")
    return "\n".join(lines)


def _evidence_card(card: dict) -> Any:
    """The worked IU-Xray example as a panel: question, answer, the cited report with the deciding sentence lit."""
    from rich.markup import escape
    from rich.panel import Panel

    report, sentence = card["cited_report"], card["deciding_sentence"]
    confidence = "" if card.get("confidence") is None else f", confidence {card['confidence']:.2f}"
    head, found, tail = report.partition(sentence)
    cited = f"{escape(head)}[bold black on yellow]{escape(sentence)}[/]{escape(tail)}" if found else escape(report)
    case = card["cited_case"] or "(no Open-i id found)"
    body = (
        f"[bold]Q[/bold] {escape(card['question'])}   [dim](gold: {escape(card['gold'])})[/dim]\n"
        f"[bold]A[/bold] {escape(card['answer'].split('Reference')[0].strip())} "
        f"[dim]({escape(card.get('grade') or '')}{confidence}: decided by the highlighted sentence)[/dim]\n\n"
        f"[bold]cited case[/bold] {escape(case)}: the authors' top-1 retrieval for {escape(str(card['image']))}\n"
        f"{cited}"
    )
    return Panel(body, title=f"Evidence card {card['question_id']}", expand=False)


def _tower_line(tower: dict) -> str:
    recall = " / ".join(f"{v:.3f}" for v in tower["held_out_recall"].values())
    return (
        f"held-out image -> report recall@{'/@'.join(k.removeprefix('R@') for k in tower['held_out_recall'])} "
        f"{recall} over {tower['held_out_pairs']} pairs (chance R@1 {tower['chance_R@1']:.3f}; "
        f"{tower['epochs']} epochs)"
    )


def _titles(result: dict) -> tuple[str, str]:
    part1 = (
        f"Part 1. VQA-RAD test closed questions (n = {result['rows'][0]['n']}), knowledge base MedPix 2.0 "
        f"({result['knowledge_base']['records']} images), extractive generator"
    )
    iuxray = result.get("iuxray") or {}
    rows = iuxray.get("rows") or [{}]
    dropped = rows[0].get("unparsable_gold", 0)
    part2 = (
        f"Part 2. IU-Xray closed test questions (MMed-RAG): n = {rows[0].get('n', 0):,} of {iuxray.get('count', 0):,}"
        f" ({dropped} gold labels are not yes/no and are not scored; listed in "
        f"{iuxray.get('unparsable_gold_file', 'the demo folder')}), extractive generator"
    )
    return part1, part2


def _calibration_lines(result: dict) -> list[str]:
    reports = dict(result.get("calibration") or {})
    reports.update({f"IU-Xray {k}": v for k, v in ((result.get("iuxray") or {}).get("calibration") or {}).items()})
    return [
        f"confidence not calibrated for {name}: {r['skipped']}"
        if "skipped" in r
        else f"confidence calibrated on {name}: held-out ECE {r['ece_held_out']:.3f} "
        f"(raw {r['ece_raw_held_out']:.3f}), fitted on {r['answered_fit']} answers, judged on {r['answered_held_out']}"
        for name, r in reports.items()
    ]


def markdown_report(result: dict) -> str:
    """The demo's results as the README shows them (``mmedrag demo --readme README.md`` rewrites that part)."""
    part1, part2 = _titles(result)
    lines = [f"Image tower: {_tower_line(result['tower'])}.", "", f"**{part1}**", "", markdown_table(result["rows"])]
    iuxray = result.get("iuxray")
    if iuxray:
        lines += ["", f"**{part2}**", "", markdown_table(iuxray["rows"])]
    lines += ["", *(f"- {line}" for line in _calibration_lines(result))]
    machine = result["machine"]
    lines += [
        "",
        f"Regenerated by `mmedrag demo --readme README.md` ({machine['cpus']} CPUs, {machine['platform']}, "
        f"{result['seconds']:.0f} s).",
    ]
    return "\n".join(lines) + "\n"


MARKERS = ("<!-- demo-results:start -->", "<!-- demo-results:end -->")


def write_readme(path: Path, result: dict) -> None:
    """Replace the text between the README's demo markers with this run's tables."""
    from mmedrag.errors import ConfigError
    from mmedrag.io.atomic import atomic_write_text

    text = path.read_text(encoding="utf-8")
    start, end = text.find(MARKERS[0]), text.find(MARKERS[1])
    if start < 0 or end < start:
        raise ConfigError(f"{path}: no {MARKERS[0]} ... {MARKERS[1]} section to rewrite; add the two markers")
    atomic_write_text(path, text[: start + len(MARKERS[0])] + "\n" + markdown_report(result) + text[end:])


def _print_report(result: dict) -> None:
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)  # logs and CI: do not wrap the table at 80
    tower = result["tower"]
    console.print(f"[bold]Image tower[/bold] ({'reused' if tower['reused'] else 'trained'}): {_tower_line(tower)}")
    part1, part2 = _titles(result)
    console.print(_closed_table(part1, result["rows"]))
    example = result.get("example")
    if example:
        confidence = "" if example.get("confidence") is None else f", confidence {example['confidence']:.2f}"
        console.print(f"[bold]Worked example[/bold] {example['question_id']} ({example['image']})")
        console.print(f"  Q: {example['question']}   gold: {example['gold']}", markup=False)
        console.print(f"  A: {example['answer']}  ({example['grade']}{confidence})", markup=False)
        for number, cite in enumerate(example["citations"], start=1):
            console.print(f"  [{number}] {cite['id']}  score {cite['score']:.3f}", markup=False)
    iuxray = result.get("iuxray")
    if iuxray:
        console.print(_closed_table(part2, iuxray["rows"]))
        if iuxray.get("card"):
            console.print(_evidence_card(iuxray["card"]))
    for line in _calibration_lines(result):
        console.print(line, markup=False)
    if result.get("plot"):
        console.print(f"risk-coverage curves: {result['plot']}", markup=False)
    console.print(f"done in {result['seconds']:.1f} s; cache in {Path(result['index']['path']).parent}")
