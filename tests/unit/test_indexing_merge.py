"""Indexing past one process: three shards embedded apart and merged (encoding nothing) hold what one build holds
(records, vectors, image fingerprints, the in-scope fit) and answer every search the same, into a folder or Milvus
Lite; overlapping shards and shards of other encoders are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.io.images import load_image
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.stores.locate import load_index
from mmedrag.types import Query

N = 24


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One whole build and three shard builds of 24 MedPix 2.0 cases (hash encoder, exact store), by the CLI."""
    images = sorted((SHARED_DATA / "medpix2" / "images").glob("*.png"))[:N]
    if len(images) < N:
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("merge")
    lines = [
        {"id": f"m{n}", "text": f"case {n}: {'pleural effusion' if n % 3 else 'brain mass'}", "image_paths": [str(p)]}
        for n, p in enumerate(images)
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    common = [str(root / "corpus.jsonl"), "--encoder", "hash:32", "--store", "exact", "--data-root", str(SHARED_DATA)]
    assert main(["index", *common, "--index", str(root / "whole")]) == 0
    for number in (1, 2, 3):
        assert main(["index", *common, "--index", str(root / f"part{number}"), "--shard", f"{number}/3"]) == 0
    return root


def _searches(index_dir: Path, root: Path) -> list[list[tuple[str, float]]]:
    retriever = Retriever(load_index(index_dir), HashEncoder(dim=32))
    probe = load_image(sorted((SHARED_DATA / "medpix2" / "images").glob("*.png"))[N + 1])
    queries = [Query(text="Is there a pleural effusion?"), Query(image=probe), Query(text="mass", image=probe)]
    found, verdicts = retriever.search_checked(queries, k=8)
    return [[(h.record.id, round(h.score, 6)) for h in hits] for hits in found] + [[(v.status, 0.0)] for v in verdicts]


def test_three_shards_merge_into_what_one_build_holds(built: Path) -> None:
    parts = [FolderIndex.load(built / f"part{n}") for n in (1, 2, 3)]
    assert sorted(p.count() for p in parts) == [8, 8, 8]
    assert (
        main(["index", "--index", str(built / "merged"), "--from-index", *(str(built / f"part{n}") for n in (2, 1, 3))])
        == 0
    )
    whole, merged = FolderIndex.load(built / "whole"), FolderIndex.load(built / "merged")
    assert sorted(whole.ids()) == sorted(merged.ids()) and len(whole.ids()) == N
    for space in ("text", "image"):
        ids = sorted(whole.spaces[space].ids())
        assert sorted(merged.spaces[space].ids()) == ids
        a, b = whole.spaces[space].vectors_of(ids), merged.spaces[space].vectors_of(ids)
        assert all(np.array_equal(a[i], b[i]) for i in ids)
    assert whole.records.image_fingerprints() == merged.records.image_fingerprints()
    fit = lambda index: {k: v for k, v in index.info["scope"].items() if k not in {"info", "fitted_at"}}  # noqa: E731
    assert fit(whole) == fit(merged)
    assert _searches(built / "merged", built) == _searches(built / "whole", built)


def test_shards_merge_into_milvus_lite(built: Path) -> None:
    pytest.importorskip("pymilvus")
    store = f"milvus:{built / 'lite'}"
    argv = ["index", "--index", str(built / "mv"), "--store", store, "--from-index"]
    assert main([*argv, *(str(built / f"part{n}") for n in (1, 2, 3))]) == 0
    assert sorted(load_index(built / "mv").ids()) == sorted(FolderIndex.load(built / "whole").ids())
    # Milvus breaks ties its own way: the same scores, and the same cases above the last tie
    mv, whole = _searches(built / "mv", built)[0], _searches(built / "whole", built)[0]
    assert [score for _, score in mv] == [score for _, score in whole]
    assert [hit for hit in mv if hit[1] > mv[-1][1]] == [hit for hit in whole if hit[1] > whole[-1][1]]


def test_overlapping_shards_or_other_encoders_are_refused(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlap = ["index", "--index", str(built / "bad"), "--from-index", str(built / "part1"), str(built / "whole")]
    assert main(overlap) != 0
    error = capsys.readouterr().err.strip()
    assert "shards must not overlap" in error and len(error.splitlines()) == 1
    other = built / "other"
    common = [str(built / "corpus.jsonl"), "--store", "exact", "--data-root", str(SHARED_DATA), "--shard", "2/3"]
    assert main(["index", *common, "--index", str(other), "--encoder", "hash:64"]) == 0
    capsys.readouterr()
    assert main(["index", "--index", str(built / "bad"), "--from-index", str(built / "part1"), str(other)]) != 0
    assert "encoder" in capsys.readouterr().err.lower()
    assert not (built / "bad").exists()
