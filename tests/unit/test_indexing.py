from __future__ import annotations

from pathlib import Path

import pytest

from conftest import needs
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import DataError, EncoderMismatchError
from mmedrag.indexing import build_index, delete_records
from mmedrag.io.manifest import read_manifest
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Record


def test_build_index_embeds_texts_and_every_image_view(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path
) -> None:
    records = read_manifest(tiny_manifest)
    report = build_index(records, tmp_path / "idx", hash_encoder, store="exact")
    assert (report.added, report.replaced, report.skipped, report.total) == (6, 0, 0, 6)
    index = FolderIndex.load(tmp_path / "idx")
    assert index.spaces["text"].count() == 6 and index.spaces["image"].count() == 6
    assert index.records.get(["r4"])["r4"].modality == "mri"


def test_bad_records_are_skipped_named_and_counted_while_the_rest_is_indexed(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path
) -> None:
    records = read_manifest(tiny_manifest)
    (tmp_path / "images" / "r2.png").write_bytes(b"not an image")
    (tmp_path / "images" / "r3.png").unlink()
    report = build_index(records, tmp_path / "idx", hash_encoder, store="exact")
    assert (report.added, report.skipped) == (4, 2)
    assert any("record r2" in e and "not a readable image" in e for e in report.errors)
    assert any("record r3" in e and "not found" in e for e in report.errors)
    assert set(FolderIndex.load(tmp_path / "idx").records.ids()) == {"r1", "r4", "r5", "r6"}


def test_optional_images_keep_the_record_and_ignore_reads_none(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path
) -> None:
    records = read_manifest(tiny_manifest)
    (tmp_path / "images" / "r3.png").unlink()
    report = build_index(records, tmp_path / "a", hash_encoder, store="exact", images="optional")
    assert report.added == 6 and report.image_vectors == 5 and len(report.warnings) == 1
    report = build_index(records, tmp_path / "b", hash_encoder, store="exact", images="ignore")
    assert report.added == 6 and report.image_vectors == 0 and not report.warnings


def test_an_empty_or_entirely_bad_corpus_is_an_error_and_leaves_the_index_untouched(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="no records to index"):
        build_index([], tmp_path / "idx", hash_encoder)
    build_index(read_manifest(tiny_manifest)[:2], tmp_path / "idx", hash_encoder, store="exact")
    with pytest.raises(DataError, match="none of the 1 records could be indexed"):
        build_index([Record(id="x", image_paths=(str(tmp_path / "nope.png"),))], tmp_path / "idx", hash_encoder)
    assert set(FolderIndex.load(tmp_path / "idx").records.ids()) == {"r1", "r2"}


def test_rerunning_adds_and_replaces_without_a_rebuild(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path
) -> None:
    records = read_manifest(tiny_manifest)
    build_index(records[:4], tmp_path / "idx", hash_encoder, store="exact")
    changed = Record(id="r1", text="Completely different: pneumoperitoneum.", image_paths=records[0].image_paths)
    report = build_index([changed, *records[4:]], tmp_path / "idx", hash_encoder)
    assert (report.added, report.replaced, report.total) == (2, 1, 6)
    index = FolderIndex.load(tmp_path / "idx")
    assert index.records.get(["r1"])["r1"].text.startswith("Completely different")
    best = index.spaces["text"].search(hash_encoder.encode_texts(["pneumoperitoneum"]), 1)[0][0][0]
    assert best == "r1"


def test_updating_with_another_encoder_is_refused_unless_rebuilding(tiny_manifest: Path, tmp_path: Path) -> None:
    records = read_manifest(tiny_manifest)
    build_index(records, tmp_path / "idx", HashEncoder(32), store="exact")
    with pytest.raises(EncoderMismatchError):
        build_index(records, tmp_path / "idx", HashEncoder(32, seed=3))
    report = build_index(records, tmp_path / "idx", HashEncoder(32, seed=3), rebuild=True)
    assert report.total == 6


@pytest.mark.parametrize("store", ["exact", pytest.param("faiss:HNSW32", marks=needs("faiss", "faiss"))])
def test_delete_records_removes_records_and_their_vectors(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path, store: str
) -> None:
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store=store)
    assert delete_records(tmp_path / "idx", ["r2", "missing"]) == 1
    index = FolderIndex.load(tmp_path / "idx")
    assert "r2" not in index.records.ids() and "r2" not in index.spaces["text"].ids()
    assert not [i for i in index.spaces["image"].ids() if i.startswith("r2#")]
