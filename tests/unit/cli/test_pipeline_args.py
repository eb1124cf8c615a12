"""The pipeline flags are written once (cli/pipeline_args.py): every verb that builds a pipeline reads them alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.cli import build_parser, main
from mmedrag.cli.pipeline_args import pipeline_values

FLAGS = ["--index", "milvus:http://host:19530|collection=cxr", "--generator", "extractive", "--router", "r", "-k", "2"]
EXPECTED = {
    "index": "milvus:http://host:19530|collection=cxr",
    "generator": "extractive",
    "router.path": "r",
    "selector.k": 2,
}
QUESTIONS = ["--questions", "q.jsonl", "--out", "o"]


@pytest.mark.parametrize(
    "argv", [["ask"], ["serve"], ["evaluate", *QUESTIONS], ["calibrate", "--alpha", "0.2", *QUESTIONS]]
)
def test_every_pipeline_verb_maps_the_same_flags_to_the_same_keys(argv: list[str]) -> None:
    assert pipeline_values(build_parser().parse_args([*argv, *FLAGS])) == EXPECTED


@pytest.mark.parametrize("argv", [["ask"], ["serve"], ["evaluate", *QUESTIONS]])
def test_k_is_validated_alike(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "-k", "-3"])
    assert "-k" in capsys.readouterr().err


def test_search_takes_its_index_encoder_and_filters_from_a_config(
    tiny_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "idx"
    assert main(["index", str(tiny_manifest), "--index", str(index), "--encoder", "hash:32", "--store", "exact"]) == 0
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"index: {index}\nretrieval:\n  domain: ophthalmology\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["search", "--config", str(config), "--text", "effusion", "-k", "5", "--json"]) == 0
    assert [hit["id"] for hit in json.loads(capsys.readouterr().out)["hits"]] == ["r5"]  # the config's filter
    assert (
        main(["search", "--config", str(config), "--set", "retrieval.domain=radiology", "--text", "x", "--json"]) == 0
    )
    assert "r5" not in {hit["id"] for hit in json.loads(capsys.readouterr().out)["hits"]}
    assert main(["search", "--text", "effusion"]) == 2
    assert "give the index to search" in capsys.readouterr().err
