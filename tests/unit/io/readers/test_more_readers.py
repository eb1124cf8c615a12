"""Readers for Open-i/IU-Xray, CSV, image folders, COVID-19 collection, HAM10000, MedMNIST and HF datasets: real-data
counts (``data`` mark), and per reader a bad row that becomes a DataError naming file and row while the rest is read."""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image
from mmedrag.errors import DataError
from mmedrag.io.readers.base import Dataset, ReaderSpec
from mmedrag.io.readers.covid import SPEC as COVID
from mmedrag.io.readers.folder import SPEC as FOLDER
from mmedrag.io.readers.ham10000 import SPEC as HAM
from mmedrag.io.readers.hf_datasets import SPEC as HF
from mmedrag.io.readers.medmnist import SPEC as MEDMNIST
from mmedrag.io.readers.openi import SPEC as OPENI
from mmedrag.io.readers.openi import normalize_report_text
from mmedrag.io.readers.tabular import SPEC as CSV


def collect(spec: ReaderSpec, source: Path, **options: object) -> Dataset:
    return Dataset.collect(spec.name, spec.read(source, **options))


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    make_image(seed, size=(16, 16)).save(buffer, format="PNG")
    return buffer.getvalue()


REPORT_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR{n}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText><AbstractText Label="INDICATION">XXXX-year-old male</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText><AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation><MeSH><major>normal</major><automatic>granuloma</automatic></MeSH>
<parentImage id="CXR{n}_IM-0001-1001"><caption>PA XXXX XXXX</caption></parentImage>
<parentImage id="CXR{n}_IM-0001-2001"><caption>Lateral</caption></parentImage></eCitation>"""


def _xml(n: int, findings: str = "Clear lungs.", impression: str = "Normal.") -> bytes:
    return REPORT_XML.format(n=n, findings=findings, impression=impression).encode()


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_openi_archive_streams_reports_and_a_malformed_member_is_one_error(tmp_path: Path) -> None:
    archive = _tgz(
        tmp_path / "NLMCXR_reports.tgz",
        {
            "ecgen-radiology/1.xml": _xml(1, "Heart XXXX XXXX normal.", "No acute disease."),
            "ecgen-radiology/2.xml": b"<eCitation><uId id='CXR2'/>",  # truncated
            "ecgen-radiology/3.xml": _xml(3, "", ""),  # neither section: skipped, counted
            "ecgen-radiology/4.xml": _xml(4, "", "Stable."),
        },
    )
    data = collect(OPENI, archive)
    assert [r.id for r in data.records] == ["openi:CXR1", "openi:CXR4"] and data.skipped == 1
    assert len(data.errors) == 1 and "NLMCXR_reports.tgz:ecgen-radiology/2.xml" in str(data.errors[0])
    first = data.records[0]
    assert first.text == "FINDINGS: Heart [REDACTED] normal.\nIMPRESSION: No acute disease."
    assert first.metadata["indication"] == "[REDACTED]-year-old male"
    assert (first.metadata["mesh_major"], first.metadata["mesh_automatic"]) == (["normal"], ["granuloma"])
    assert first.metadata["image_captions"]["CXR1_IM-0001-1001"] == "PA [REDACTED]"
    assert (first.study_id, first.domain, first.modality, first.image_paths) == ("CXR1", "radiology", "xray", ())
    assert data.records[1].text == "IMPRESSION: Stable."
    assert not list(archive.parent.glob("ecgen-radiology"))  # nothing was extracted
    text = "No XXXX XXXX  XXXX. Chest x-XXXX, XXXXyo XXXX/XXXX"
    assert normalize_report_text(text) == "No [REDACTED]. Chest x-[REDACTED], [REDACTED]yo [REDACTED]/[REDACTED]"


def test_openi_joins_images_by_id_or_r2gen_folder_and_keeps_reports_without_images(tmp_path: Path) -> None:
    (tmp_path / "xml").mkdir()
    for n in (1, 2, 3):
        (tmp_path / "xml" / f"{n}.xml").write_bytes(_xml(n))
    images = tmp_path / "images"
    (images / "CXR2_IM-0001").mkdir(parents=True)
    make_image(1).save(images / "CXR1_IM-0001-2001.png")
    make_image(2).save(images / "CXR2_IM-0001" / "0.png")
    make_image(3).save(images / "CXR2_IM-0001" / "1.png")
    data = collect(OPENI, tmp_path / "xml", image_dir=images)
    paths = {r.id: [Path(p).relative_to(images).as_posix() for p in r.image_paths] for r in data.records}
    assert paths == {
        "openi:CXR1": ["CXR1_IM-0001-2001.png"],
        "openi:CXR2": ["CXR2_IM-0001/0.png", "CXR2_IM-0001/1.png"],
        "openi:CXR3": [],
    }


@pytest.mark.data
def test_openi_matches_the_preparsed_copy(shared_data: Path) -> None:
    data = collect(OPENI, shared_data / "iu_xray_reports")
    assert len(data.records) + data.skipped == 3955 and data.skipped == 28 and not data.errors
    assert sum(bool(r.metadata["findings"]) for r in data.records) == 3425
    assert sum(bool(r.metadata["impression"]) for r in data.records) == 3921
    assert not any("XXXX" in r.text for r in data.records)
    by_uid = {r.study_id: r for r in data.records}
    images = 0
    for line in (shared_data / "iu_xray_reports" / "reports.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        images += len(row["images"])
        record = by_uid.get(row["uid"])
        if record is None:
            assert not row["findings"] and not row["impression"]
            continue
        for section in ("findings", "impression", "indication", "comparison"):
            assert record.metadata[section] == normalize_report_text(row[section]), (row["uid"], section)
        assert record.metadata["mesh_major"] == [normalize_report_text(m) for m in row["mesh_major"]]
        assert record.metadata["mesh_automatic"] == [normalize_report_text(m) for m in row["mesh_automatic"]]
        assert record.metadata["image_ids"] == row["images"]
    assert images == 7470
    assert by_uid["CXR1"].text == (
        "FINDINGS: The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary edema. "
        "There is no focal consolidation. There are no [REDACTED] of a pleural effusion. There is no evidence of "
        "pneumothorax.\nIMPRESSION: Normal chest x-[REDACTED]."
    )
    assert by_uid["CXR2"].text == (
        "FINDINGS: Borderline cardiomegaly. Midline sternotomy [REDACTED]. Enlarged pulmonary arteries. Clear lungs. "
        "Inferior [REDACTED].\nIMPRESSION: No acute pulmonary findings."
    )
    assert by_uid["CXR2"].metadata["mesh_major"] == ["Cardiomegaly/borderline", "Pulmonary Artery/enlarged"]


def test_csv_reads_columns_several_images_and_reports_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for n in range(3):
        make_image(n).save(tmp_path / "img" / f"{n}.png")
    lines = [
        b"case,img_file,report,patient,view_split,mod,site\n",
        b'c1,img/0.png;img/1.png,"Small left\neffusion.",p1,train,CT,A\n',
        b"c2,img/2.png,,p2,validation,X-ray,B\n",  # image only
        b"c3,,,p3,test,CT,C\n",  # neither: an error naming row 3
        b"c4,img/0.png,Caf\xe9 bytes,p4,test,CT,D\n",  # latin-1 byte: an error naming row 4
        b"c5,,Text only.,p5,test,MR,E\n",
    ]
    path = tmp_path / "cases.csv"
    path.write_bytes(b"".join(lines))
    data = collect(
        CSV, path, image_column="img_file", text_column="report", id_column="case", patient_column="patient",
        split_column="view_split", modality_column="mod",
    )  # fmt: skip
    assert [r.id for r in data.records] == ["c1", "c2", "c5"]
    assert len(data.errors) == 2
    assert "cases.csv: row 3 has neither text nor an image" in str(data.errors[0])
    assert "cases.csv: row 4 (line 6): not valid UTF-8" in str(data.errors[1])
    first = data.records[0]
    assert first.text == "Small left effusion."
    assert first.image_paths == tuple(str(tmp_path / "img" / f"{n}.png") for n in (0, 1))
    assert (first.patient_id, first.split, first.modality, first.domain) == ("p1", "train", "ct", "radiology")
    assert first.metadata == {"site": "A"}
    assert (data.records[1].split, data.records[1].modality) == ("val", "xray")
    assert data.records[2].image_paths == () and data.records[2].modality == "mri"


def test_csv_default_columns_image_root_and_constant_domain(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("image,caption\nx.png,Optic disc cupping.\n", encoding="utf-8")
    data = collect(CSV, path, image_root=tmp_path / "elsewhere", domain="ophthalmology", modality="fundus")
    record = data.records[0]
    assert record.id == "pairs:1" and record.image_paths == (str(tmp_path / "elsewhere" / "x.png"),)
    assert (record.domain, record.modality, record.text) == ("ophthalmology", "fundus", "Optic disc cupping.")
    with pytest.raises(DataError, match="no text column 'report'"):
        collect(CSV, path, text_column="report")


def test_folder_reads_sidecars_splits_and_dicom_and_reports_a_bad_sidecar(tmp_path: Path) -> None:
    for sub in ("train", "val", "test/deep", "misc"):
        (tmp_path / sub).mkdir(parents=True)
    make_image(0).save(tmp_path / "train" / "a.png")
    (tmp_path / "train" / "a.txt").write_text("  Normal chest.\n", encoding="utf-8")
    make_image(1).save(tmp_path / "val" / "b.jpg")
    sidecar = {"text": "Cupped disc.", "modality": "fundus", "patient_id": "p9", "id": "own", "camera": "Topcon"}
    (tmp_path / "val" / "b.json").write_text(json.dumps(sidecar), encoding="utf-8")
    make_image(2).save(tmp_path / "test" / "deep" / "c.tif")
    (tmp_path / "misc" / "scan").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)  # DICOM without a suffix
    make_image(3).save(tmp_path / "misc" / "d.png")
    (tmp_path / "misc" / "d.json").write_text("{broken", encoding="utf-8")
    make_image(4).save(tmp_path / "misc" / "e.bmp")
    (tmp_path / "misc" / "e.txt").write_bytes(b"caf\xe9")
    (tmp_path / "misc" / "notes.md").write_text("not an image", encoding="utf-8")
    data = collect(FOLDER, tmp_path)
    by_id = {r.id: r for r in data.records}
    assert sorted(by_id) == ["misc/scan", "test/deep/c.tif", "train/a.png", "val/b.jpg"]
    assert sorted(Path(str(e).split(": ")[0]).name for e in data.errors) == ["d.json", "e.txt"]
    assert (by_id["train/a.png"].text, by_id["train/a.png"].split) == ("Normal chest.", "train")
    b = by_id["val/b.jpg"]
    assert (b.text, b.modality, b.domain) == ("Cupped disc.", "fundus", "ophthalmology")
    assert (b.patient_id, b.split) == ("p9", "val")
    assert b.metadata["camera"] == "Topcon" and b.metadata["id"] == "own"
    assert (by_id["test/deep/c.tif"].split, by_id["test/deep/c.tif"].text) == ("test", "")
    assert by_id["misc/scan"].metadata["dicom"] is True and by_id["misc/scan"].split is None


@pytest.mark.data
def test_folder_reads_idrid_yolo_boxes_as_boxes_not_captions(shared_data: Path) -> None:
    data = collect(FOLDER, shared_data / "idrid_fundus_codras", domain="ophthalmology", modality="fundus")
    assert len(data.records) == 40 and not data.errors
    record = next(r for r in data.records if r.id == "images/0005.jpg")
    assert record.text == "Annotated regions: optic disc (1), hard exudates (1), haemorrhage (1)."
    assert len(record.metadata["boxes"]) == 3 and record.metadata["caption_kind"] == "label-derived"
    assert all(r.text.startswith("Annotated regions: optic disc") for r in data.records)


@pytest.mark.data
def test_covid_records_from_full_and_subset_metadata(shared_data: Path) -> None:
    folder = shared_data / "covid_chestxray"
    full = collect(COVID, folder)  # metadata_full.csv: every source row; absent images and repeats skipped
    subset = collect(COVID, folder / "metadata_subset.csv")
    assert (len(full.records), full.skipped, len(full.errors)) == (143, 530, 0)
    assert (len(subset.records), subset.skipped, len(subset.errors)) == (143, 0, 0)
    assert {r.id for r in full.records} == {r.id for r in subset.records}
    assert Counter(r.modality for r in subset.records) == {"xray": 125, "ct": 18}
    assert all(r.metadata["license"] and Path(r.image_paths[0]).is_file() for r in subset.records)
    record = next(r for r in subset.records if r.id == "covid:000001-12.jpg")
    assert record.text.startswith("Finding: Pneumonia.\nA healthy patient presented with a 2-week history")
    assert (record.patient_id, record.metadata["view"], record.domain) == ("covid:281", "PA", "radiology")
    # The source lists 000001-24.jpg under patients 285 and 339: one patient for the leakage guard.
    same = {r.patient_id for r in subset.records if r.metadata["source_patientid"] in {"285", "339"}}
    assert same == {"covid:285"}


def test_covid_skips_absent_images_and_reports_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    make_image(0).save(tmp_path / "images" / "a.png")
    make_image(1).save(tmp_path / "images" / "c.png")
    header = b"patientid,finding,view,modality,folder,filename,license,clinical_notes,other_notes\n"
    rows = [
        b"1,COVID-19,PA,X-ray,images,a.png,CC BY,Bilateral opacities.,Credit to X\n",
        b"2,Pneumonia,PA,X-ray,images,missing.png,CC BY,Notes.,\n",
        b"3,Pneumonia,PA,X-ray,images,c.png,CC BY,37.9\xb0C fever,\n",
        b"4,ARDS,Axial,CT,images,a.png,CC BY,Again.,\n",
    ]
    (tmp_path / "metadata.csv").write_bytes(header + b"".join(rows))
    data = collect(COVID, tmp_path)
    assert [r.id for r in data.records] == ["covid:a.png"] and data.skipped == 2
    assert len(data.errors) == 1 and "metadata.csv: row 3" in str(data.errors[0])
    record = data.records[0]
    assert record.text == "Finding: COVID-19.\nBilateral opacities." and record.metadata["other_notes"] == "Credit to X"
    assert record.patient_id == "covid:1"  # patient 4 lists a.png too, so 1 and 4 are one patient


@pytest.mark.data
def test_ham10000_records_are_label_captions_grouped_by_lesion(shared_data: Path) -> None:
    data = collect(HAM, shared_data / "ham10000_sample")
    assert (len(data.records), data.skipped, len(data.errors)) == (56, 0, 0)
    assert {(r.domain, r.modality) for r in data.records} == {("dermatology", "dermoscopy")}
    assert Counter(r.metadata["dx"] for r in data.records) == dict(nv=31, mel=12, bkl=8, bcc=2, akiec=2, vasc=1)
    record = next(r for r in data.records if r.id == "ham10000:ISIC_0024311")
    assert record.text == (
        "Dermoscopy of a melanocytic nevus on the back of a 75-year-old female. Diagnosis by follow-up examination."
    )
    assert (record.study_id, record.patient_id) == ("ham10000:HAM_0000981", None)
    assert max(Counter(r.study_id for r in data.records).values()) > 1  # several images of one lesion


def test_ham10000_upstream_layout_and_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "HAM10000_images_part_2").mkdir()
    make_image(0).save(tmp_path / "HAM10000_images_part_2" / "ISIC_1.jpg", format="JPEG")
    (tmp_path / "HAM10000_metadata.csv").write_text(
        "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
        "HAM_1,ISIC_1,mel,histo,,unknown,unknown\n"
        "HAM_2,ISIC_2,nv,follow_up,40.0,male,back\n"
        "HAM_3,ISIC_3,,histo,40.0,male,back\n",
        encoding="utf-8",
    )
    data = collect(HAM, tmp_path)
    assert [r.id for r in data.records] == ["ham10000:ISIC_1"] and data.skipped == 1
    assert "HAM10000_metadata.csv: row 3" in str(data.errors[0])
    assert data.records[0].text == "Dermoscopy of a melanoma. Diagnosis by histopathology."


@pytest.mark.data
def test_medmnist_writes_pngs_once_with_class_names(shared_data: Path, tmp_path: Path) -> None:
    npz = shared_data / "medmnist" / "retinamnist.npz"
    data = collect(MEDMNIST, npz, extract_to=tmp_path)
    assert Counter(r.split for r in data.records) == {"train": 1080, "val": 120, "test": 400}
    assert {(r.domain, r.modality) for r in data.records} == {("ophthalmology", "fundus")}
    arrays = np.load(npz)
    for record in (data.records[0], data.records[-1]):
        split, index = record.id.split(":")[2], int(record.id.split(":")[3])
        with Image.open(record.image_paths[0]) as image:
            assert np.array_equal(np.asarray(image), arrays[f"{split}_images"][index])
        grade = int(arrays[f"{split}_labels"][index][0])
        assert record.text.startswith(f"Fundus photograph: diabetic retinopathy grade {grade} (")
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.png")}
    assert len(stamps) == 1600
    collect(MEDMNIST, npz, extract_to=tmp_path)
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.png")}  # identical files left alone
    breast = collect(MEDMNIST, shared_data / "medmnist" / "breastmnist_resaved.npz", extract_to=tmp_path)
    malignant = sum(r.text == "Breast ultrasound: malignant." for r in breast.records)
    assert (malignant, len(breast.records)) == (210, 780)  # BUSI: 210 malignant, 437 benign + 133 normal
    assert {(r.domain, r.modality) for r in breast.records} == {("radiology", "ultrasound")}


def test_medmnist_needs_extract_to_and_a_known_dataset(tmp_path: Path) -> None:
    images, labels = np.zeros((2, 28, 28), np.uint8), np.zeros(2)
    np.savez_compressed(tmp_path / "mystery.npz", train_images=images, train_labels=labels)
    with pytest.raises(DataError, match="extract_to"):
        collect(MEDMNIST, tmp_path / "mystery.npz")
    with pytest.raises(DataError, match="dataset= one of"):
        collect(MEDMNIST, tmp_path / "mystery.npz", extract_to=tmp_path / "out")
    data = collect(MEDMNIST, tmp_path / "mystery.npz", extract_to=tmp_path / "out", dataset="pneumoniamnist")
    assert [r.text for r in data.records] == ["Paediatric chest X-ray: normal."] * 2


def test_medmnist_multi_label_and_a_label_shortfall_is_one_error(tmp_path: Path) -> None:
    labels = np.zeros((3, 14), np.uint8)
    labels[0, [1, 2]] = 1
    images = np.stack([np.asarray(make_image(n, size=(28, 28), mode="L")) for n in range(4)])
    np.savez(tmp_path / "chestmnist.npz", test_images=images, test_labels=labels)
    data = collect(MEDMNIST, tmp_path / "chestmnist.npz", extract_to=tmp_path / "out")
    texts = ["Chest X-ray: cardiomegaly, effusion."] + ["Chest X-ray: no finding."] * 2
    assert [r.text for r in data.records] == texts
    assert len(data.errors) == 1 and "chestmnist.npz: test_images has more rows than test_labels" in str(data.errors[0])


def _parquet(path: Path) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    images = [
        {"bytes": png_bytes(0), "path": "a.png"},
        {"bytes": b"not an image", "path": None},  # row 2: unreadable bytes
        {"bytes": None, "path": "rel/c.png"},
        None,  # row 4: no image and no text
        {"bytes": png_bytes(0), "path": None},  # the same bytes as row 1: one file
    ]
    columns = {"image": pa.array(images, type=image_type), "age": [50, 60, 70, 80, 90]}
    columns["caption"] = ["Left effusion.", "x", "Clear.", None, "Same image."]
    columns["split"] = ["train", "train", "validation", "test", "test"]
    pq.write_table(pa.table(columns), path, row_group_size=2)  # 3 row groups: iter_batches crosses them
    return path


def test_parquet_streams_rows_writes_bytes_by_hash_and_reports_bad_rows(tmp_path: Path) -> None:
    source = _parquet(tmp_path / "train-00000-of-00001.parquet")
    out = tmp_path / "extracted"
    data = collect(HF, source, extract_to=out)
    assert [r.text for r in data.records] == ["Left effusion.", "Clear.", "Same image."]
    assert len(data.errors) == 2
    assert f"{source}: row 2: image bytes are not a readable image" in str(data.errors[0])
    assert f"{source}: row 4 has neither text nor an image" in str(data.errors[1])
    first, second, third = data.records
    assert first.image_paths == third.image_paths and Path(first.image_paths[0]).parent.parent == out
    assert Path(first.image_paths[0]).suffix == ".png" and Path(first.image_paths[0]).read_bytes() == png_bytes(0)
    assert second.image_paths == (str(tmp_path / "rel" / "c.png"),)
    assert (first.split, second.split, first.metadata) == ("train", "val", {"age": 50})
    assert first.id == f"{source.stem}:train:1"
    with pytest.raises(DataError, match="extract_to"):
        collect(HF, source)


def test_save_to_disk_dataset_dict_gives_splits(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"image": datasets.Image(), "report": datasets.Value("string")})
    rows = {"image": [{"bytes": png_bytes(1), "path": None}], "report": ["Normal fundus."]}
    part = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": part, "validation": part}).save_to_disk(str(tmp_path / "saved"))
    data = collect(HF, tmp_path / "saved", extract_to=tmp_path / "out", modality="fundus")
    expected = [(split, "Normal fundus.", "ophthalmology") for split in ("train", "val")]
    assert [(r.split, r.text, r.domain) for r in data.records] == expected
    assert Image.open(data.records[0].image_paths[0]).size == (16, 16)


@pytest.mark.data
def test_each_detect_accepts_its_own_data_and_refuses_the_others(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "pairs.csv").write_text("image,text\na.png,Clear.\n", encoding="utf-8")
    parquet = _parquet(tmp_path / "data.parquet")
    own = {
        OPENI: [shared_data / "iu_xray_reports", shared_data / "iu_xray_reports" / "NLMCXR_reports.tgz"],
        COVID: [shared_data / "covid_chestxray", shared_data / "covid_chestxray" / "metadata_subset.csv"],
        HAM: [shared_data / "ham10000_sample", shared_data / "ham10000_sample" / "metadata.csv"],
        MEDMNIST: [shared_data / "medmnist", shared_data / "medmnist" / "retinamnist.npz"],
        FOLDER: [shared_data / "idrid_fundus_codras", shared_data / "idrid_fundus_codras" / "images"],
        CSV: [tmp_path / "pairs.csv"],
        HF: [parquet],
    }
    others = [shared_data / "idrid_fundus_codras" / "labels.csv", shared_data / "medmnist" / "exemplars_224"]
    for spec, paths in own.items():
        for path in paths:
            assert spec.detect(path), (spec.name, path)
        foreign = [p for other, ps in own.items() if other is not spec for p in ps] + others
        for path in foreign:
            assert not spec.detect(path), (spec.name, path)
