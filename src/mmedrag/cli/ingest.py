"""``mmedrag ingest``: read a dataset in any supported format and write a validated JSONL manifest."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress


def _data_root_hint(source: str, out: str, options: dict[str, str]) -> str | None:
    """A note when the manifest's images lie outside its folder: reading it back then needs ``--data-root``."""
    from pathlib import Path

    given = options.get("data_root") or options.get("extract_to") or options.get("image_root")
    root = Path(given or source).expanduser().resolve()
    root = root if root.is_dir() or given else root.parent
    folder = Path(out).expanduser().resolve().parent
    if folder == root or folder in root.parents:
        return None
    return f"  note: the images are under {root}; pass --data-root {root} to index, validate or train on {out}"


class IngestCommand(Command):
    name = "ingest"
    help = "convert a dataset (DICOM, Open-i, CSV, folders, public datasets) into a JSONL manifest"
    description = """Read SOURCE with a reader (--format, or detected), check that every image decodes, and write
one record per line to --out (atomically). Bad items are skipped and listed; the rest is written. --redact
replaces what looks like an identifier (HIPAA Safe Harbor classes: names, dates, ages over 89, addresses, phone and
fax numbers, e-mail, URLs, IP addresses, SSNs, record and account numbers) in the report text and in every string of
the record's metadata, so that neither the manifest nor the index built from it holds them.

examples:
  mmedrag ingest ~/.cache/mmedrag/data/medpix2 --out manifests/medpix2.jsonl
  mmedrag ingest /pacs/export --format dicom --group-by series --out manifests/ct.jsonl
  mmedrag ingest ~/.cache/mmedrag/data/iu_xray_reports/NLMCXR_reports.tgz --format openi --out iu.jsonl --redact
  mmedrag ingest table.csv --format csv --option image_column=path --option text_column=report --out m.jsonl"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from mmedrag.backends import READERS

        formats = ", ".join(f"{name} ({about})" for name, about in READERS.describe().items())
        parser.add_argument("source", help="dataset file or folder")
        parser.add_argument("--out", required=True, type=argtype.output_file, help="manifest to write (JSONL)")
        parser.add_argument("--format", default="auto", help=f"reader: auto, {formats}")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="reader option, e.g. image_root=DIR, extract_to=DIR, group_by=series (repeatable)",
        )
        argtype.add_data_root(parser)
        parser.add_argument("--no-image-check", action="store_true", help="do not decode images (faster)")
        parser.add_argument(
            "--redact", action="store_true", help="replace identifiers found in report text and metadata"
        )
        parser.add_argument(
            "--drop-priors",
            action="store_true",
            help="remove sentences that refer to prior studies from report text (they are always "
            "listed in metadata.prior_sentences, with the parsed sections)",
        )
        parser.add_argument(
            "--workers", type=argtype.positive_int, default=4, help="image decoding threads (default 4)"
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.errors import ConfigError
        from mmedrag.ingest import ingest

        options = {}
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--option {item!r}: expected KEY=VALUE")
            options[key.strip()] = value
        options |= argtype.reader_options(args)
        report = ingest(
            args.source,
            args.out,
            args.format,
            check_images=not args.no_image_check,
            redact=args.redact,
            drop_priors=args.drop_priors,
            workers=args.workers,
            progress=show_progress(args),
            **options,
        )
        if args.json:
            emit_json(report.to_dict())
            return 0
        log(
            f"{report.out}: {report.written} records written ({report.questions} questions grouped by image), "
            f"{len(report.errors)} errors, {report.skipped} skipped, {report.redacted} redacted, "
            f"{report.prior_sentences} prior-study sentences marked, {report.seconds:.1f} s"
        )
        inside = f"{args.source.rstrip('/')}/"  # name items relative to the source: shorter, same meaning
        for reason, count in sorted(report.skipped_by_reason.items(), key=lambda kv: -kv[1]):
            log(f"  skipped {count}: {reason}, e.g.")
            for example in report.skipped_examples.get(reason, []):
                log(f"    {example.replace(inside, '')}")
        if report.warnings:
            total = sum(len(messages) for messages in report.warnings.values())
            log(f"  {total} library warnings on {len(report.warnings)} files (all in --json), e.g.")
            for item, messages in list(report.warnings.items())[:3]:
                log(f"    {item.replace(inside, '')}: {messages[0]}")
        for key, counts in report.counts.items():
            log(f"  {key}: " + ", ".join(f"{value} {n}" for value, n in sorted(counts.items(), key=lambda kv: -kv[1])))
        for message in report.errors[:10]:
            log(f"  error: {message}")
        hint = _data_root_hint(args.source, args.out, options)
        if hint:
            log(hint)
        if len(report.errors) > 10:
            log(f"  ... {len(report.errors) - 10} more (use --json for all)")
        return 0
