"""``mmedrag index``: build or update an index folder from a manifest or a dataset folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress

if TYPE_CHECKING:
    from mmedrag.io.readers import Dataset


def _read(args: argparse.Namespace) -> Dataset:
    """The source's records; when none could be read, the first reason (e.g. paths outside the data root)."""
    from mmedrag.errors import DataError
    from mmedrag.io.readers import read_source

    dataset = read_source(args.source, args.format, **argtype.reader_options(args))
    if not dataset.records and dataset.errors:
        count, first = len(dataset.errors), dataset.errors[0]
        raise DataError(f"nothing readable in {args.source} ({count} errors); first: {first}")
    return dataset


class IndexCommand(Command):
    name = "index"
    help = "build or update an index from a manifest or a dataset folder"
    description = """Embed a corpus of images and reports into an index folder (records in SQLite, vectors in FAISS
or numpy, the encoder's fingerprint). Re-running adds and replaces records; the previous version stays live until the
new one is completely written. Bad records are skipped, counted and listed.

examples:
  mmedrag index ~/.cache/mmedrag/data/medpix2 --index idx/medpix --encoder tower:~/.cache/mmedrag/demo/tower
  mmedrag index corpus.jsonl --index idx/cxr --encoder biomedclip --store faiss:HNSW32
  mmedrag index "$(mmedrag data path mmed_rag_iuxray)/retriever_train.json" --index idx/iu --encoder minilm \\
    --images ignore
  mmedrag index --index idx/cxr --delete iuxray:CXR12_IM-0133
  mmedrag index --verify idx/cxr
  mmedrag index --index idx/cxr --refit-scope --scope-alpha 0.05   # fit the in-scope check again, no encoding
  mmedrag index corpus.jsonl --index idx/cxr --store milvus:./milvus-data          # Milvus Lite, embedded
  mmedrag index --index idx/cxr --store milvus:http://milvus:19530 --from-index idx/cxr-faiss   # copy, no encoding
  mmedrag index mimic/ --index idx/part1 --shard 1/4 --encoder biomedclip --device cuda:0       # ... 4/4 on cuda:3
  mmedrag index --index idx/mimic --from-index idx/part1 idx/part2 idx/part3 idx/part4           # merge, no encoding

One writer at a time: a second `index` run on the same folder waits for the first (or fails at once with
--no-wait); searches keep working throughout. Ids must be unique in a source: the first record with an id is
indexed, later ones are skipped and listed. --verify checks every file's checksum, the record database and the
vector files of the live version and exits 1 if anything is damaged.

Every build also fits the in-scope check (`ask`, `serve` and `evaluate` abstain on a query image unlike every image
of the index): leave-one-out nearest-neighbour scores of the index's own images, in the encoder's space and in a
space of image statistics, with a conformal threshold that flags at most about --scope-alpha of images like the
knowledge base's. An index built before the check existed has none (answers' traces say "not_fitted"): fit it with
--refit-scope, which reads the stored vectors and images and encodes nothing."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("source", nargs="?", help="a JSONL manifest, a dataset file or a dataset folder")
        parser.add_argument("--index", help="index folder to create or update (required unless --verify DIR)")
        parser.add_argument("--format", default="auto", help="reader: auto, manifest, medpix2, vqa_rad, mmed_rag")
        parser.add_argument(
            "--encoder",
            help="encoder spec (default: the index's own, else biomedclip); e.g. "
            "minilm, tower:DIR, open_clip:DIR, open_clip:hf-hub:ORG/REPO, hf_clip:DIR",
        )
        parser.add_argument(
            "--store",
            help="vector store for a new index: exact, faiss, faiss:HNSW32, "
            "'faiss:IVF1024,Flat|nprobe=32', milvus:./folder, 'milvus:http://host:19530|collection=cxr' "
            "(token from MILVUS_TOKEN; default: faiss exact inner product)",
        )
        parser.add_argument(
            "--images",
            choices=("require", "optional", "ignore"),
            default="require",
            help="require: skip records whose image is unreadable; optional: index them without it; "
            "ignore: read no images (text-only corpora)",
        )
        parser.add_argument("--image-root", help="folder that the dataset's image paths are relative to")
        argtype.add_data_root(parser)
        parser.add_argument("--split", help="index only records of this split (e.g. train)")
        parser.add_argument(
            "--redact", action="store_true", help="replace identifiers in report text and metadata (as ingest --redact)"
        )
        parser.add_argument("--rebuild", action="store_true", help="start from an empty index")
        parser.add_argument("--batch-size", type=argtype.positive_int, default=32)
        parser.add_argument("--device", default="auto", type=argtype.device, help="cpu, cuda or auto")
        parser.add_argument(
            "--from-index",
            nargs="+",
            metavar="DIR",
            help="build --index from these index folders, encoding nothing: one folder into --store milvus:... as "
            "is, or the shard folders of `index --shard` merged (into a folder or Milvus)",
        )
        parser.add_argument(
            "--shard",
            metavar="I/N",
            type=argtype.shard,
            help="index only every N-th record from the I-th (from 1) into --index: one shard per GPU or machine, "
            "merged afterwards with --from-index",
        )
        parser.add_argument("--delete", nargs="+", metavar="ID", help="remove these record ids instead of indexing")
        parser.add_argument(
            "--verify",
            nargs="?",
            const="",
            metavar="DIR",
            help="check the index (DIR, else --index) for damage instead of indexing; exit 1 if any is found",
        )
        parser.add_argument(
            "--scope-alpha",
            type=argtype.open_fraction,
            default=0.05,
            help="share of knowledge-base-like images the in-scope check may flag (default %(default)s)",
        )
        parser.add_argument(
            "--refit-scope",
            action="store_true",
            help="fit the in-scope check of the existing --index again (e.g. one built before the check existed)",
        )
        parser.add_argument(
            "--no-wait",
            dest="wait",
            action="store_false",
            help="fail at once if another process is writing the index (default: wait for it)",
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.encoders import create_encoder
        from mmedrag.errors import ConfigError
        from mmedrag.indexing import build_index
        from mmedrag.stores.locate import index_exists, load_index

        if args.verify is not None:
            return _verify(args.verify or args.index, args.json)
        if not args.index:
            raise ConfigError("give --index DIR (the index folder to create or update)")
        if args.delete:
            return _delete(args)
        if args.refit_scope:
            return _refit(args)
        if args.from_index:
            return _from_indexes(args)
        if not args.source:
            raise ConfigError("give a SOURCE to index (or --delete IDS)")
        dataset = _read(args)
        records = [r for r in dataset.records if args.split is None or r.split == args.split]
        if args.shard:
            from mmedrag.indexing_merge import shard_records

            records = shard_records(records, args.shard)
        if args.redact:  # a raw source indexed without `ingest --redact` would carry identifiers into the index
            from mmedrag.quality.phi import redact_record

            records = [redact_record(r) for r in records]
        if args.encoder:
            spec = args.encoder
        elif index_exists(args.index) and not args.rebuild:
            spec = load_index(args.index).encoder.spec
        else:
            spec = "biomedclip"
        encoder = create_encoder(spec, device=args.device)
        report = build_index(
            records,
            args.index,
            encoder,
            store=args.store,
            batch_size=args.batch_size,
            images=args.images,
            rebuild=args.rebuild,
            progress=show_progress(args),
            wait=args.wait,
            on_wait=log,
            scope_alpha=args.scope_alpha,
            shard=args.shard,
        )
        return _summary(args, report, [str(e) for e in dataset.errors], dataset.summary())


def _from_indexes(args: argparse.Namespace) -> int:
    """One folder copied into Milvus as is, or shard folders merged (into a folder or Milvus), encoding nothing."""
    from mmedrag.indexing import copy_index
    from mmedrag.indexing_merge import merge_indexes
    from mmedrag.stores.locate import index_kind

    progress = show_progress(args)
    if len(args.from_index) == 1 and index_kind(args.index, args.store) == "milvus":
        report = copy_index(args.from_index[0], args.index, args.store, args.rebuild, progress=progress)
    else:
        report = merge_indexes(args.from_index, args.index, args.store, args.scope_alpha, progress)
    return _summary(args, report, [], {})


def _summary(args: argparse.Namespace, report: Any, read_errors: list[str], source: dict[str, Any]) -> int:
    if args.json:
        emit_json({**report.to_dict(), "read_errors": read_errors, "source": source})
        return 0
    log(
        f"{report.index}: {report.added} added, {report.replaced} replaced, {report.skipped} skipped; "
        f"{report.total} records in the index ({report.seconds:.1f} s, encoder {report.encoder})"
    )
    for message in (read_errors + report.errors)[:10]:
        log(f"  skipped: {message}")
    if len(read_errors) + len(report.errors) > 10:
        log(f"  ... {len(read_errors) + len(report.errors) - 10} more (use --json for all)")
    for message in report.warnings[:5]:
        log(f"  warning: {message}")
    if report.scope:
        log(f"  in-scope check: {_scope_line(report.scope)}")
    return 0


def _scope_line(summary: dict[str, Any]) -> str:
    if not summary.get("fitted"):
        return "not fitted (no image vectors)"
    thresholds = ", ".join(f"{name} {value}" for name, value in summary["thresholds"].items())
    return f"alpha {summary['alpha']}, fitted on {summary['scored']} images; thresholds {thresholds}"


def _refit(args: argparse.Namespace) -> int:
    from mmedrag.indexing import refit_scope

    summary = refit_scope(args.index, args.scope_alpha, wait=args.wait, on_wait=log)
    if args.json:
        emit_json({"index": args.index, "scope": summary})
    else:
        log(f"{args.index}: in-scope check {_scope_line(summary)}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from mmedrag.indexing import delete_records

    removed = delete_records(args.index, args.delete, wait=args.wait, on_wait=log)
    if args.json:
        emit_json({"removed": removed})
    else:
        log(f"removed {removed} record(s) from {args.index}")
    return 0


def _verify(folder: str | None, as_json: bool) -> int:
    from mmedrag.errors import ConfigError
    from mmedrag.stores.locate import verify_index

    if not folder:
        raise ConfigError("give the index folder to check: --verify DIR")
    report = verify_index(folder)
    if as_json:
        emit_json(report)
    elif report["ok"]:
        found = report.get("counts") or {}
        labels = {
            "records": "records",
            "text": "text vectors",
            "image": "image vectors",
            "fingerprints": "image hashes",
        }
        counts = ", ".join(f"{found[name]} {label}" for name, label in labels.items() if name in found)
        checked = (
            f"{report['files']} files, {report['bytes']:,} bytes checked"
            if "files" in report
            else f"{report['rows']:,} rows checked"
        )
        log(f"{folder}: {report['version']} intact ({checked}; {counts})")
    else:
        damaged = report["version"] or "its CURRENT pointer"
        log(f"{folder}: {damaged} is damaged; restore the folder from a backup or rebuild the index")
    for problem in [] if as_json else report["problems"]:
        log(f"  damaged: {problem}")
    for warning in [] if as_json else report["warnings"]:
        log(f"  warning: {warning}")
    return 0 if report["ok"] else 1
