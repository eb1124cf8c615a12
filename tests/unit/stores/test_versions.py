"""An index never reaches outside its folder: CURRENT and version folders are names, never followed paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mmedrag.cli import main
from mmedrag.encoders.base import fingerprint_of
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import IndexFolderError
from mmedrag.indexing import build_index
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Record


def index_with(path: Path, *ids: str) -> Path:
    build_index([Record(id=i, text=f"report {i}") for i in ids], path, HashEncoder(16), store="exact", images="ignore")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Another index, with an unrelated file beside its version folder: nothing here may be read or changed."""
    other = index_with(tmp_path / "other", "secret")
    (other / "v-000001" / "notes.txt").write_text("unrelated")
    return other


@pytest.mark.parametrize("pointer", ["../other/v-000001", "{other}/v-000001", "v-000001/../../other/v-000001", "x"])
def test_current_naming_anything_but_a_version_of_this_folder_is_one_line_and_touches_nothing(
    tmp_path: Path, outside: Path, pointer: str
) -> None:
    path = index_with(tmp_path / "idx", "mine")
    before = snapshot(outside)
    (path / "CURRENT").write_text(pointer.replace("{other}", str(outside)) + "\n")
    with pytest.raises(IndexFolderError, match="not a version folder of this index") as caught:
        FolderIndex.load(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(IndexFolderError, match="not a version folder"):
        build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore")
    assert snapshot(outside) == before and (outside / "v-000001").is_dir()


def test_a_version_folder_that_is_a_link_out_of_the_index_is_refused(tmp_path: Path, outside: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    before = snapshot(outside)
    os.symlink(outside / "v-000001", path / "v-000002")
    (path / "CURRENT").write_text("v-000002\n")
    with pytest.raises(IndexFolderError, match="v-000002: is a symbolic link"):
        FolderIndex.load(path)
    (path / "CURRENT").write_text("v-000001\n")
    build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore")  # cleanup runs: link stays
    assert (path / "v-000002").is_symlink() and snapshot(outside) == before
    assert (path / "CURRENT").read_text().strip() == "v-000003"  # the new version does not collide with the link


def test_cleanup_only_removes_unfinished_version_folders_inside_the_index(tmp_path: Path, outside: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    before = snapshot(outside)
    (path / "v-000009").mkdir()  # an unfinished version left by a killed writer
    (path / "v-000009" / "partial").write_text("x")
    for keep in ("v-backup", "v-00001", "notes"):  # not version names: never touched
        (path / keep).mkdir()
    os.symlink(outside, path / "v-000008")
    build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore")
    assert not (path / "v-000009" / "partial").exists()  # removed (the new version may then reuse the name)
    assert all((path / keep).is_dir() for keep in ("v-backup", "v-00001", "notes"))
    assert (path / "v-000008").is_symlink() and snapshot(outside) == before


def test_a_lock_file_that_is_a_link_is_refused_and_not_followed(tmp_path: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    (path / ".lock").unlink()
    target = tmp_path / "elsewhere.txt"
    os.symlink(target, path / ".lock")
    with pytest.raises(IndexFolderError, match=r"\.lock: cannot open the writer lock"):
        build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore")
    assert not target.exists()


def test_search_through_the_cli_refuses_an_escaping_current_with_exit_2(
    tmp_path: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = index_with(tmp_path / "idx", "mine")
    (path / "CURRENT").write_text("../other/v-000001\n")
    code = main(["search", "--index", str(path), "--text", "report", "--encoder", "hash:16"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a version folder" in err and "secret" not in err


def test_a_current_that_is_a_link_is_refused(tmp_path: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    shutil.move(path / "CURRENT", tmp_path / "pointer")
    os.symlink(tmp_path / "pointer", path / "CURRENT")
    with pytest.raises(IndexFolderError, match="CURRENT: is a symbolic link"):
        FolderIndex.load(path)
    with pytest.raises(IndexFolderError, match="CURRENT: is a symbolic link"):
        build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore")  # an update
    FolderIndex.create(path, fingerprint_of(HashEncoder(16)), "exact").save()  # a rebuild replaces the link
    assert not (path / "CURRENT").is_symlink() and (tmp_path / "pointer").read_text().strip() == "v-000001"
    assert FolderIndex.load(path).records.count() == 0


def test_a_rebuild_repairs_an_escaping_current_without_removing_anything(tmp_path: Path, outside: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    before = snapshot(outside)
    (path / "CURRENT").write_text("../other/v-000001\n")
    build_index([Record(id="new", text="x")], path, HashEncoder(16), images="ignore", rebuild=True)
    assert FolderIndex.load(path).records.ids() == ["new"]
    assert (path / "v-000001").is_dir() and snapshot(outside) == before  # the old version stays for restoring


def test_files_of_a_version_that_link_out_of_it_are_refused(tmp_path: Path, outside: Path) -> None:
    path = index_with(tmp_path / "idx", "mine")
    text = path / "v-000001" / "text"
    shutil.rmtree(text)
    os.symlink(outside / "v-000001" / "text", text)
    with pytest.raises(IndexFolderError, match="resolves outside the version folder"):
        FolderIndex.load(path)


def test_an_index_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(IndexFolderError, match="cannot create the index folder|is not a folder"):
        index_with(tmp_path / "file", "a")
    with pytest.raises(IndexFolderError, match="cannot create the index folder"):
        index_with(tmp_path / "file" / "below", "a")


@pytest.mark.parametrize("content", [b"\xff\xfe", b"v-000001" * 100_000, b"", b"v-000001\x00"])
def test_an_unreadable_or_oversized_current_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = index_with(tmp_path / "idx", "mine")
    (path / "CURRENT").write_bytes(content)
    with pytest.raises(IndexFolderError, match="CURRENT: ") as caught:
        FolderIndex.load(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_a_saved_store_kind_must_be_registered_never_an_import_path(tmp_path: Path) -> None:
    import json

    from mmedrag.encoders.base import fingerprint_of
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.errors import IndexFolderError
    from mmedrag.stores import integrity
    from mmedrag.stores.index import FolderIndex

    index = FolderIndex.create(tmp_path / "idx", fingerprint_of(HashEncoder(8)), "exact")
    version = index.save()
    meta = json.loads((version / "index.json").read_text())
    meta["store"] = {"kind": "os.path:join"}
    meta["meta_sha256"] = integrity.meta_digest(meta)  # a forged folder carries a consistent digest
    (version / "index.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFolderError, match="'os.path:join' is not a registered store"):
        FolderIndex.load(tmp_path / "idx")
