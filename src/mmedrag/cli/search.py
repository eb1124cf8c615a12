"""``mmedrag search``: retrieval only, for inspecting what an index returns."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json
from mmedrag.cli.pipeline_args import add_pipeline_arguments, config_from_args
from mmedrag.cli.query_args import add_query_arguments, query_from_args


class SearchCommand(Command):
    name = "search"
    help = "retrieve the most similar cases for an image or a text (no generation)"
    description = """Search an index and print the top-k records with their scores. Image queries search report
texts (image->report) unless --mode image2image; text queries search report texts.

examples:
  mmedrag search --index idx/medpix --image scan.png -k 5
  mmedrag search --index idx/medpix --text "ring-enhancing lesion" --filter-modality mri --json
  mmedrag search --config pipeline.yaml --text "pleural effusion"     # the config's index, encoder and filters"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--text", default="", help="query text")
        add_pipeline_arguments(parser, generation=False, guard_flag=False, scope=False)
        parser.add_argument("-k", type=argtype.top_k, default=5, help="number of results (default 5)")
        parser.add_argument("--encoder", help="override the index's encoder spec (must have the same fingerprint)")
        add_query_arguments(parser)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.errors import ConfigError
        from mmedrag.factory import build_retriever
        from mmedrag.retrieval.retriever import Filters

        config = config_from_args(args, without=("selector.k",))  # -k here is the number of results
        retriever = build_retriever(config.index, config.encoder, config.retrieval)
        if retriever is None:
            raise ConfigError("give the index to search: --index DIR (or a --config that names one)")
        retrieval = config.retrieval
        filters = Filters(retrieval.domain, retrieval.modality, retrieval.split, retrieval.source)
        hits = retriever.search(query_from_args(args, args.text), k=args.k, mode=retrieval.mode, filters=filters)
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
