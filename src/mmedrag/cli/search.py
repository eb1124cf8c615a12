"""``mmedrag search``: retrieval only, for inspecting what an index returns."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json
from mmedrag.cli.query_args import add_query_arguments, query_from_args


class SearchCommand(Command):
    name = "search"
    help = "retrieve the most similar cases for an image or a text (no generation)"
    description = """Search an index and print the top-k records with their scores. Image queries search report
texts (image->report) unless --mode image2image; text queries search report texts.

examples:
  mmedrag search --index idx/medpix --image scan.png -k 5
  mmedrag search --index idx/medpix --text "ring-enhancing lesion" --filter-modality mri --json"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--index", required=True, help="index folder built by `mmedrag index`")
        parser.add_argument("--text", default="", help="query text")
        parser.add_argument("-k", type=argtype.top_k, default=5, help="number of results (default 5)")
        parser.add_argument("--encoder", help="override the index's encoder spec (must have the same fingerprint)")
        add_query_arguments(parser)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.encoders import create_encoder
        from mmedrag.retrieval.retriever import Filters, Retriever
        from mmedrag.stores.locate import load_index

        index = load_index(args.index)
        encoder = create_encoder(args.encoder or index.encoder.spec)
        retriever = Retriever(
            index,
            encoder,
            leakage_guard=not args.no_leakage_guard,
            near_duplicate_guard=not args.no_near_duplicate_guard,
        )
        filters = Filters(domain=args.filter_domain, modality=args.filter_modality, split=args.filter_split)
        hits = retriever.search(query_from_args(args, args.text), k=args.k, mode=args.mode or "auto", filters=filters)
        if args.json:
            emit_json(
                {
                    "hits": [
                        {"id": h.record.id, "score": h.score, "rank": h.rank, "record": h.record.to_dict()}
                        for h in hits
                    ]
                }
            )
            return 0
        for hit in hits:
            print(f"{hit.rank:>3}  {hit.score:.4f}  {hit.record.id}  {hit.record.first_line[:100]}")
        if not hits:
            print("no results")
        return 0
