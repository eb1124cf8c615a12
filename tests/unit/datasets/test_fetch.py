"""Dataset fetching through the real code over a loopback HTTP server: full fetch, interrupted and resumed fetch,
corrupted file, server error, truncated archive, licences. The synthetic catalogue here runs everywhere; the
catalogue's own entries are fetched from ../shared/data in tests/unit/datasets/test_catalogue.py."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from data_server import DataServer
from mmedrag.cli import main
from mmedrag.datasets import (
    ChecksumError,
    FetchError,
    LicenceError,
    dataset_path,
    fetch_dataset,
    fetch_datasets,
    is_ready,
    verify_dataset,
)
from mmedrag.datasets.catalogue import MARKER_NAME, parse_catalogue
from mmedrag.datasets.fetch import PARTIAL_DIR
from mmedrag.errors import ConfigError

BASE = "https://example.org/repo/0123456789abcdef0123456789abcdef01234567/"
WHEEL = "https://files.example.org/packages/py3/t/thing/thing-1.0-py3-none-any.whl"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payloads() -> dict[str, bytes]:
    """Distinct, incompressible-enough contents so that a half file is never a valid file."""
    return {
        "a.json": json.dumps([{"image": f"CXR{i}", "v": i} for i in range(50)] + [{"image": "MIMIC1"}]).encode(),
        "images/b.bin": hashlib.sha256(b"b").digest() * 4000,
        "c.txt": b"report text\n" * 3000,
    }


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as handle:
        for name, data in members.items():
            handle.writestr(name, data)
    return buffer.getvalue()


def build(pin_archive: bool = True, terms: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A catalogue with a per-file source (one file filtered), a zip source, and the routes serving them."""
    files = payloads()
    filtered = json.dumps([r for r in json.loads(files["a.json"]) if r["image"].startswith("CXR")], indent=1).encode()
    inner = {"pkg/data/d.csv": b"x,y\n" * 5000, "pkg/data/e.tgz": hashlib.sha256(b"e").digest() * 3000}
    wheel = zipped({**inner, "pkg/__init__.py": b""})
    entries = [
        {
            "path": "a.json",
            "sha256": sha(filtered),
            "size": len(filtered),
            "source": "repo",
            "download": {"sha256": sha(files["a.json"]), "size": len(files["a.json"])},
            "transform": {"kind": "json_filter", "field": "image", "prefix": "CXR", "indent": 1},
        },
        {
            "path": "images/b.bin",
            "sha256": sha(files["images/b.bin"]),
            "size": len(files["images/b.bin"]),
            "source": "repo",
        },
        {"path": "c.txt", "sha256": sha(files["c.txt"]), "size": len(files["c.txt"]), "source": "repo"},
        {
            "path": "d.csv",
            "sha256": sha(inner["pkg/data/d.csv"]),
            "size": 20000,
            "source": "wheel",
            "member": "pkg/data/d.csv",
        },
        {
            "path": "e.tgz",
            "sha256": sha(inner["pkg/data/e.tgz"]),
            "size": 96000,
            "source": "wheel",
            "member": "pkg/data/e.tgz",
        },
        {"path": "derived.jsonl", "sha256": "0" * 64, "size": 3, "optional": True},
    ]
    wheel_source: dict[str, Any] = {"kind": "zip", "url": WHEEL}
    if pin_archive:
        wheel_source.update(sha256=sha(wheel), size=len(wheel))
    dataset = {
        "title": "Toy",
        "description": "toy",
        "homepage": "https://example.org",
        "licence": {"id": "X", "name": "Toy licence", "url": "https://example.org/l", "terms": list(terms)},
        "citation": "Toy 2024",
        "counts": {"files": 5},
        "layout": "toy",
        "sources": {"repo": {"kind": "files", "url": BASE}, "wheel": wheel_source},
        "files": entries,
    }
    routes = {"/" + (BASE + name).split("://")[1]: data for name, data in files.items()}
    routes["/" + WHEEL.split("://")[1]] = wheel
    return {"format": 1, "datasets": {"toy": dataset}}, routes


@pytest.fixture
def served() -> Any:
    raw, routes = build()
    server = DataServer(routes)  # type: ignore[arg-type]
    yield parse_catalogue(raw)["toy"], server, routes
    server.close()


def path_of(name: str) -> str:
    return "/" + (BASE + name).split("://")[1]


def test_full_fetch_verifies_unpacks_and_marks_complete(served: Any, tmp_path: Path) -> None:
    dataset, server, _ = served
    report = fetch_dataset(dataset, tmp_path, mirror=server.url)
    folder = tmp_path / "toy"
    assert not report.reused and report.files == 5 and Path(report.path) == folder
    assert (folder / MARKER_NAME).is_file() and is_ready(folder, dataset)
    check = verify_dataset(folder, dataset)
    assert check.ok and check.checked == 5 and check.optional_absent == ["derived.jsonl"]
    assert [r["image"] for r in json.loads((folder / "a.json").read_text())] == [f"CXR{i}" for i in range(50)]
    assert not (tmp_path / PARTIAL_DIR).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["toy"]
    before = len(server.requests)
    assert fetch_dataset(dataset, tmp_path, mirror=server.url).reused and len(server.requests) == before
    assert dataset_path(tmp_path, dataset) == folder


def test_interrupted_fetch_resumes_with_a_range_request(served: Any, tmp_path: Path) -> None:
    dataset, server, routes = served
    target = path_of("images/b.bin")
    server.faults[target] = "cut_once"
    with pytest.raises(FetchError, match=r"toy/images/b\.bin: .*run the same command again to resume") as caught:
        fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "toy").exists()
    part = tmp_path / PARTIAL_DIR / "toy" / "blobs" / f"{sha(routes[target])}.part"
    half = len(routes[target]) // 2
    assert part.stat().st_size == half
    fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
    assert (target, f"bytes={half}-") in server.requests
    assert verify_dataset(tmp_path / "toy", dataset).ok


def test_retries_resume_within_one_fetch(served: Any, tmp_path: Path) -> None:
    dataset, server, routes = served
    target = path_of("c.txt")
    server.faults[target] = "cut_once"
    fetch_dataset(dataset, tmp_path, mirror=server.url, retries=1)
    assert (target, f"bytes={len(routes[target]) // 2}-") in server.requests
    assert verify_dataset(tmp_path / "toy", dataset).ok


def test_corrupted_file_is_named_and_nothing_is_marked_usable(served: Any, tmp_path: Path) -> None:
    dataset, server, _ = served
    server.faults[path_of("c.txt")] = "corrupt"
    with pytest.raises(ChecksumError) as caught:
        fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
    message = str(caught.value)
    assert message.startswith("toy/c.txt: checksum mismatch") and "\n" not in message
    assert not (tmp_path / "toy").exists() and not is_ready(tmp_path / "toy", dataset)
    assert not list(tmp_path.glob(".mmedrag-tmp-*"))
    # The good files stay downloaded and verified: the next run fetches only the bad one.
    del server.faults[path_of("c.txt")]
    server.requests.clear()
    fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
    assert [p for p, _ in server.requests] == [path_of("c.txt")]
    assert verify_dataset(tmp_path / "toy", dataset).ok


def test_server_error_is_one_line_and_leaves_nothing(served: Any, tmp_path: Path) -> None:
    dataset, server, _ = served
    server.faults["/" + WHEEL.split("://")[1]] = "500"
    with pytest.raises(FetchError, match=r"^toy/thing-1\.0-py3-none-any\.whl: HTTP 500 ") as caught:
        fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
    assert "\n" not in str(caught.value) and not (tmp_path / "toy").exists()


@pytest.mark.parametrize("pinned", [True, False], ids=["archive-checksum", "unpack"])
def test_truncated_archive_is_refused(pinned: bool, tmp_path: Path) -> None:
    raw, routes = build(pin_archive=pinned)
    dataset = parse_catalogue(raw)["toy"]
    server = DataServer(routes, faults={"/" + WHEEL.split("://")[1]: "truncate"})  # type: ignore[arg-type]
    try:
        expected = ChecksumError if pinned else FetchError
        pattern = "checksum mismatch" if pinned else "archive is truncated or corrupt"
        with pytest.raises(expected, match=rf"^toy/thing-1\.0-py3-none-any\.whl: .*{pattern}") as caught:
            fetch_dataset(dataset, tmp_path, mirror=server.url, retries=0)
        assert "\n" not in str(caught.value)
        assert not (tmp_path / "toy").exists() and not list(tmp_path.glob(".mmedrag-tmp-*"))
        name = raw["datasets"]["toy"]["sources"]["wheel"].get("sha256") or "unpinned-wheel"
        archive = tmp_path / PARTIAL_DIR / "toy" / "blobs" / name
        assert not archive.exists() and not archive.with_name(archive.name + ".part").exists()  # deleted, not reused
    finally:
        server.close()


def test_restricted_licence_needs_acceptance(tmp_path: Path) -> None:
    raw, routes = build(terms=("non-commercial",))
    catalogue = parse_catalogue(raw)
    server = DataServer(routes)  # type: ignore[arg-type]
    try:
        with pytest.raises(LicenceError, match=r"^toy: licence Toy licence \(non-commercial\).*--accept-licence"):
            fetch_datasets(["toy"], tmp_path, catalogue=catalogue, mirror=server.url)
        assert server.requests == []
        asked: list[str] = []
        fetch_datasets(
            ["toy"], tmp_path, catalogue=catalogue, mirror=server.url, confirm=lambda d: not asked.append(d.name)
        )
        assert asked == ["toy"] and is_ready(tmp_path / "toy", catalogue["toy"])
    finally:
        server.close()


def test_cli_fetch_refuses_a_restricted_licence_without_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "fetch", "iu_xray_reports", "--root", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("mmedrag data: error: iu_xray_reports: licence CC BY-NC-ND 4.0")
    assert "--accept-licence" in err[-1] and not (tmp_path / "iu_xray_reports").exists()


def test_cli_unknown_dataset_and_path_of_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "--root", str(tmp_path)]) == 2
    assert "name the datasets to fetch, or pass --all" in capsys.readouterr().err
    assert main(["data", "fetch", "nope", "--root", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'; known:" in capsys.readouterr().err
    assert main(["data", "path", "vqa_rad", "--root", str(tmp_path)]) == 2
    assert "vqa_rad: not fetched" in capsys.readouterr().err


def test_a_second_concurrent_fetch_fails_at_once(served: Any, tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    dataset, server, _ = served
    (tmp_path / PARTIAL_DIR).mkdir()
    with open(tmp_path / PARTIAL_DIR / "toy.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process in the middle of a fetch
        with pytest.raises(FetchError, match="^toy: another mmedrag process is fetching it"):
            fetch_dataset(dataset, tmp_path, mirror=server.url)
    assert server.requests == [] and not (tmp_path / "toy").exists()
    fetch_dataset(dataset, tmp_path, mirror=server.url)
    assert is_ready(tmp_path / "toy", dataset) and not (tmp_path / PARTIAL_DIR).exists()


def test_catalogue_paths_stay_inside_the_dataset_folder() -> None:
    raw, _ = build()
    raw["datasets"]["toy"]["files"][0]["path"] = "../escape.json"
    with pytest.raises(ConfigError, match=r"'\.\./escape\.json' must be relative"):
        parse_catalogue(raw)
