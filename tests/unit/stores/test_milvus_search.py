"""The beam a filtered Milvus search asks for: widened with the share of rows the filter keeps, capped sensibly."""

from __future__ import annotations

from mmedrag.stores.milvus_search import EF_MAX, CollectionSearch, merge_top
from mmedrag.stores.milvus_spec import parse_milvus_spec


def searcher(spec: str) -> CollectionSearch:
    return CollectionSearch(None, parse_milvus_spec(spec)[0], "c")


def test_hnsw_ef_grows_with_the_share_a_filter_removes_up_to_the_rows_kept() -> None:
    hnsw = searcher("milvus:./x")
    assert hnsw.params(10) == {"ef": 64}  # unfiltered: the configured beam
    assert hnsw.params(100) == {"ef": 100}  # HNSW needs ef >= limit
    assert hnsw.params(10, (50_000, 0.5)) == {"ef": 128}
    assert hnsw.params(10, (1_000, 0.01)) == {"ef": 1_000}  # 1%: every kept row may be walked
    assert hnsw.params(10, (100_000, 0.001)) == {"ef": EF_MAX}
    assert hnsw.params(10, (0, 0.0)) == {"ef": 64}  # nothing kept (or a stale count): nothing to widen for
    assert searcher("milvus:./x|ef=200").params(10, (10_000, 0.5)) == {"ef": 400}


def test_ivf_nprobe_grows_with_the_share_up_to_every_list() -> None:
    ivf = searcher("milvus:./x|index=IVF_FLAT,nlist=256")
    assert ivf.params(10) == {"nprobe": 32}
    assert ivf.params(10, (5_000, 0.25)) == {"nprobe": 128}
    assert ivf.params(10, (1_000, 0.01)) == {"nprobe": 256}


def test_merge_top_keeps_the_best_k_of_disjoint_searches() -> None:
    first = [[("a", 0.9), ("b", 0.5)], [("c", 0.2)]]
    second = [[("d", 0.7)], [("e", 0.8), ("f", 0.1)]]
    assert merge_top([first, second], 2, 2) == [[("a", 0.9), ("d", 0.7)], [("e", 0.8), ("c", 0.2)]]
