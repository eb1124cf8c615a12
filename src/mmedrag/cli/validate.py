"""``mmedrag validate``: check manifests or dataset folders before indexing; exit 1 on leakage, unreadable input or
(with ``--phi``) identifiers left in the text or metadata."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, show_progress


def _splits(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class ValidateCommand(Command):
    name = "validate"
    help = "check a corpus: unreadable images, short reports, duplicate images, train/test leakage, PHI"
    description = """Check one or more JSONL manifests (or dataset folders a reader knows: medpix2, vqa_rad, ...)
before indexing. Finds missing and unreadable images, empty and very short reports, exact duplicate images (pixel
SHA-256) and near duplicates (dHash candidates confirmed by thumbnail correlation) within and across splits and
sources, and leakage: the same patient, study or image in a knowledge-base split and a test split. With --phi the
report text and every metadata string are also screened for identifiers (HIPAA Safe Harbor classes: names, dates,
ages over 89, addresses, phone and fax numbers, e-mail, URLs, IP addresses, SSNs, record and account numbers).

Exit status: 0 when clean, 1 on leakage, unreadable input (missing or corrupt images, bad manifest lines) or, with
--phi, any identifier found (fix with `mmedrag ingest --redact`), 2 on a usage error. Records without a split
count as split "none" (add it to --kb-splits to treat them as KB).

examples:
  mmedrag validate corpus.jsonl
  mmedrag validate ~/.cache/mmedrag/data/medpix2 ~/.cache/mmedrag/data/vqa_rad --kb-splits train,none --json
  mmedrag validate train.jsonl test.jsonl --phi --near-duplicate-bits 4"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("sources", nargs="+", metavar="MANIFEST", help="JSONL manifests or dataset folders")
        parser.add_argument("--format", default="auto", help="reader for every source: auto (detect), manifest, ...")
        parser.add_argument("--kb-splits", default="train", help="comma-separated knowledge-base splits (train)")
        parser.add_argument("--test-splits", default="val,test", help="comma-separated test splits (val,test)")
        parser.add_argument(
            "--near-duplicate-bits",
            type=argtype.int_range(0, 64),
            default=6,
            help="dHash distance (of 64 bits) for candidates (6)",
        )
        parser.add_argument(
            "--near-duplicate-similarity",
            type=argtype.float_range(0.0, 1.0),
            default=0.95,
            help="thumbnail correlation that confirms a candidate (0.95; 0 keeps every dHash candidate)",
        )
        parser.add_argument(
            "--min-report-words", type=argtype.nonnegative_int, default=5, help="shorter reports are listed (5)"
        )
        argtype.add_data_root(parser)
        parser.add_argument(
            "--phi", action="store_true", help="also screen report text and metadata for identifiers (exit 1 if any)"
        )
        parser.add_argument("--workers", type=argtype.positive_int, default=4, help="image-decoding threads (4)")
        parser.add_argument(
            "--limit", type=argtype.nonnegative_int, default=5, help="entries listed per problem in the text output"
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.quality.validate import validate

        report = validate(
            args.sources,
            kb_splits=_splits(args.kb_splits),
            test_splits=_splits(args.test_splits),
            min_report_words=args.min_report_words,
            near_duplicate_bits=args.near_duplicate_bits,
            near_duplicate_similarity=args.near_duplicate_similarity,
            workers=args.workers,
            progress=show_progress(args),
            phi=args.phi,
            data_root=args.data_root,
            fmt=args.format,
        )
        if args.json:
            emit_json(report.to_dict())
        else:
            print(report.render(limit=args.limit))
        return 0 if report.ok else 1
