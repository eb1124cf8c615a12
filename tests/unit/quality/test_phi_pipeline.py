"""Redaction reaches everywhere the report goes: manifest text and metadata, the index, and ``search --json``.

Each test here failed before metadata was redacted and screened (issue 11, item 4): ``--redact`` cleaned ``text``
only, and ``validate --phi`` read ``text`` only and exited 0.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from mmedrag.cli import main
from mmedrag.quality.phi import scan_phi
from phi_cases import PHI_CASES, parse

# One identifier per Safe Harbor class, each planted in a different Open-i section.
PLANTED = {
    "FINDINGS": "Clear lungs. Findings discussed with DR. SMITH at 14:32 on March 3, 2014.",
    "IMPRESSION": "No acute disease. Mary Ann O'Neil-Smith, 97 y.o., lives at 1420 North Maple Street.",
    "INDICATION": "Patient name: DOE, JOHN. MRN: 1234567. SSN 123 45 6789.",
    "COMPARISON": "Outside films faxed from (312) 555-0134 on the 3rd of March 2014; jane.doe@example.org",
}
SECRETS = ["SMITH", "14:32", "March 3, 2014", "O'Neil-Smith", "97 y.o.", "1420 North Maple", "DOE, JOHN", "1234567",
           "123 45 6789", "555-0134", "3rd of March", "jane.doe@example.org"]  # fmt: skip

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR{n}"/><MedlineCitation><Article><Abstract>{sections}</Abstract></Article></MedlineCitation>
<MeSH><major>normal</major></MeSH><parentImage id="CXR{n}_IM-0001-1001"><caption>{caption}</caption></parentImage>
</eCitation>"""


def _openi_archive(path: Path) -> Path:
    sections = "".join(f'<AbstractText Label="{label}">{text}</AbstractText>' for label, text in PLANTED.items())
    clean = "".join(
        f'<AbstractText Label="{label}">{text}</AbstractText>'
        for label, text in (("FINDINGS", "Small left effusion."), ("IMPRESSION", "Effusion."))
    )
    members = {
        "ecgen-radiology/1.xml": XML.format(n=1, sections=sections, caption="PA chest, Dr. Jones 8/14/2013"),
        "ecgen-radiology/2.xml": XML.format(n=2, sections=clean, caption="PA and lateral"),
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_ingest_redact_cleans_text_and_every_metadata_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _openi_archive(tmp_path / "NLMCXR_reports.tgz")
    out = tmp_path / "iu.jsonl"
    code, printed = run(capsys, "ingest", str(archive), "--format", "openi", "--out", str(out), "--redact", "--json")
    assert code == 0 and json.loads(printed)["redacted"] == 1
    manifest = out.read_text(encoding="utf-8")
    assert [secret for secret in SECRETS if secret in manifest] == []
    first, second = (json.loads(line) for line in manifest.splitlines())
    meta = first["metadata"]
    assert meta["indication"] == "Patient name: [REDACTED]. MRN: [REDACTED]. SSN [REDACTED]."
    assert meta["image_captions"] == {"CXR1_IM-0001-1001": "PA chest, Dr. [REDACTED] [REDACTED]"}
    assert "[REDACTED]" in meta["findings"] and meta["findings"] in first["text"]  # the same redaction in both
    assert all(not scan_phi(body) for body in meta["sections"].values())  # sections come from the redacted text
    assert meta["phi_redacted"] >= len(SECRETS) and "phi_redacted" not in second["metadata"]

    # validate --phi: the redacted manifest passes; the unredacted one fails on its metadata alone.
    code, printed = run(capsys, "validate", str(out), "--phi", "--json")
    assert code == 0 and json.loads(printed)["phi"]["records_with_phi"] == 0

    # The index and search --json never show an identifier.
    index = tmp_path / "idx"
    assert main(["index", str(out), "--index", str(index), "--encoder", "hash:32", "--store", "exact"]) == 0
    capsys.readouterr()
    code, printed = run(capsys, "search", "--index", str(index), "--text", "Smith effusion March", "--json")
    assert code == 0 and len(json.loads(printed)["hits"]) == 2
    assert [secret for secret in SECRETS if secret in printed] == []


def test_validate_phi_screens_metadata_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.jsonl"
    records = [
        {"id": "a", "text": "Clear lungs.", "metadata": {"impression": "Discussed with Dr. SMITH."}},
        {"id": "b", "text": "Clear lungs.", "metadata": {"notes": [{"comparison": "03/04/2019"}]}},
        {"id": "c", "text": "Small effusion.", "metadata": {"findings": "Small effusion."}},
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, printed = run(capsys, "validate", str(manifest), "--phi", "--json")
    phi = json.loads(printed)["phi"]
    assert code == 1 and phi["records_with_phi"] == 2 and phi["fields"] == {"impression": 1, "notes[0].comparison": 1}
    code, printed = run(capsys, "validate", str(manifest), "--phi")
    assert code == 1 and "name: a impression: Discussed with Dr. SMITH." in printed and "PHI" in printed
    assert run(capsys, "validate", str(manifest))[0] == 0  # without --phi nothing is screened


def test_validate_phi_passes_a_clean_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.jsonl"
    lines = [
        {"id": f"r{i}", "text": "Fractures of the left 10/11/12 ribs; 2 x 3 cm mass at T10-T12."} for i in range(3)
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    code, printed = run(capsys, "validate", str(manifest), "--phi", "--json")
    assert code == 0 and json.loads(printed)["phi"]["records_scanned"] == 3


def test_every_labelled_case_is_redacted_from_a_manifest_field(tmp_path: Path) -> None:
    from mmedrag.ingest import ingest

    manifest = tmp_path / "m.jsonl"
    rows = [
        {"id": f"r{i}", "text": "Clear.", "metadata": {"report": {"body": parse(c)[0]}}}
        for i, c in enumerate(PHI_CASES)
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = ingest(manifest, tmp_path / "out.jsonl", check_images=False, redact=True, hygiene=False)
    assert report.redacted == len(PHI_CASES)
    for case, line in zip(PHI_CASES, (tmp_path / "out.jsonl").read_text().splitlines(), strict=True):
        text, gold = parse(case)
        body = json.loads(line)["metadata"]["report"]["body"]
        assert [text[s:e] for _, s, e in gold if text[s:e] in body] == [], body


def test_index_redact_from_a_raw_source_keeps_identifiers_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _openi_archive(tmp_path / "NLMCXR_reports.tgz")
    index = tmp_path / "idx"
    argv = ["index", str(archive), "--format", "openi", "--index", str(index), "--encoder", "hash:32", "--store"]
    assert main([*argv, "exact", "--images", "ignore", "--redact"]) == 0
    capsys.readouterr()
    code, printed = run(capsys, "search", "--index", str(index), "--text", "Smith effusion", "-k", "2", "--json")
    assert code == 0 and len(json.loads(printed)["hits"]) == 2 and "[REDACTED]" in printed
    assert [secret for secret in SECRETS if secret in printed] == []
