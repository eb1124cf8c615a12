"""DICOM decoding (LUTs, windows, colour, frames, bad input) and the DICOM folder reader, on pydicom's own test
files, the shared package samples and small synthetic files written here."""

from __future__ import annotations

import json
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import SHARED_DATA
from mmedrag.errors import ConfigError, DataError, ImageError, MissingExtraError
from mmedrag.io.dicom import WINDOWS, dicom_metadata, load_dicom_image, read_dicom
from mmedrag.io.images import load_image
from mmedrag.io.readers.base import Dataset as ItemSet
from mmedrag.io.readers.base import SkippedItem
from mmedrag.io.readers.dicom_reader import SPEC, read_dicom_folder
from mmedrag.types import Record

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file, get_testdata_files  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid  # noqa: E402

SAMPLES = SHARED_DATA / "package_samples" / "pydicom"
PATIENT_NAME, BIRTH_DATE = "Doe^Jane", "19700101"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _has_pixels(path: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some files are deliberately malformed
            dataset = pydicom.dcmread(path, force=True, defer_size=1024)
    except Exception:  # deliberately broken files that pydicom cannot even parse have no usable pixel data
        return False
    return any(keyword in dataset for keyword in _PIXEL_KEYWORDS)


def shipped(name: str) -> str:
    """A file shipped in pydicom's test_files (get_testdata_file is typed to return more than a path)."""
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return path


TEST_FILES = sorted(path for path in get_testdata_files() if Path(path).is_file() and _has_pixels(path))
_TEST_ROOT = Path(shipped("CT_small.dcm")).parent


def _outcome(path: str) -> str:
    """'decoded', 'no-plugin', 'plugin-failed' or 'broken'; any exception other than ImageError propagates."""
    try:
        result = read_dicom(path)
    except ImageError as exc:
        message = str(exc)
        assert message.startswith(f"{path}:"), message
        assert "\n" not in message
        if "no installed plugin decodes" in message:
            return "no-plugin"
        return "plugin-failed" if "failed with the installed plugins" in message else "broken"
    image = result.image
    assert image.mode == "RGB"
    assert image.size == (result.columns, result.rows)
    return "decoded"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(Path(path).relative_to(_TEST_ROOT)))
def test_every_pydicom_test_file_decodes_or_fails_with_one_clear_line(path: str) -> None:
    outcome = _outcome(path)
    if outcome == "no-plugin":
        with pytest.raises(ImageError) as info:
            load_dicom_image(path)
        syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        assert syntax.name in str(info.value)
        assert "pip install pylibjpeg" in str(info.value)


@pytest.mark.filterwarnings("ignore")
def test_pydicom_test_file_counts() -> None:
    counts = Counter(_outcome(path) for path in TEST_FILES)
    print(f"pydicom test files with pixel data: {len(TEST_FILES)}; {dict(counts)}")
    assert len(TEST_FILES) >= 90
    assert counts["decoded"] >= 80
    assert counts["decoded"] + counts["no-plugin"] + counts["plugin-failed"] + counts["broken"] == len(TEST_FILES)


@pytest.mark.filterwarnings("ignore")
def test_a_syntax_no_plugin_decodes_is_named_with_what_to_do(tmp_path: Path) -> None:
    """MPEG-2 video has no pydicom decoder at all, with or without the dicom extra's codecs."""
    path = write_dicom(tmp_path / "video.dcm", _ramp())
    dataset = pydicom.dcmread(path)
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile / Main Level
    dataset.PixelData = pydicom.encaps.encapsulate([dataset.PixelData])
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message and "MPEG2 Main Profile / Main Level" in message and "\n" not in message


def test_jpeg_ls_decodes_with_the_extra_or_names_the_package() -> None:
    path = shipped("MR_small_jpeg_ls_lossless.dcm")
    try:
        image = load_image(path)
    except ImageError as exc:
        assert "JPEG-LS Lossless Image Compression" in str(exc) and "pip install pylibjpeg pylibjpeg-libjpeg" in str(
            exc
        )
    else:
        reference = load_image(shipped("MR_small.dcm"))
        assert image.size == reference.size and np.array_equal(np.asarray(image), np.asarray(reference))


def test_ybr_jpeg_decodes_to_the_same_colours_as_the_rgb_original() -> None:
    rgb = np.asarray(load_dicom_image(shipped("SC_rgb_rle.dcm")), dtype=np.float64)
    for name in ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        ybr = np.asarray(load_dicom_image(shipped(name)), dtype=np.float64)
        assert np.abs(ybr - rgb).mean() < 5, name


def test_palette_colour_decodes_to_colour() -> None:
    result = read_dicom(shipped("examples_palette.dcm"))
    pixels = np.asarray(result.image, dtype=int)
    assert result.photometric == "PALETTE COLOR"
    assert result.image.size == (800, 350)
    assert (pixels[..., 0] != pixels[..., 1]).any()


def test_all_frames_of_a_shipped_cine() -> None:
    result = read_dicom(shipped("examples_ybr_color.dcm"), frames="all")
    assert result.frames == 30
    assert len(result.images) == 30
    assert read_dicom(shipped("examples_ybr_color.dcm")).frame_indices == (15,)


# --- the shared package samples: metadata and windowing numerics ---------------------------------------------------


def _sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set MMEDRAG_DATA)")
    return path


@pytest.mark.parametrize(("name", "modality"), [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")])
def test_package_samples_decode_with_their_metadata(name: str, modality: str) -> None:
    path = _sample(name)
    result = read_dicom(path)
    dataset = pydicom.dcmread(path)
    assert result.image.size == (dataset.Columns, dataset.Rows)
    assert result.metadata["Modality"] == modality
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID"):
        assert result.metadata[keyword] == str(dataset[keyword].value)
    assert set(result.metadata) <= set(dicom_metadata(dataset))
    assert result.transfer_syntax == "Explicit VR Little Endian"


def _hu(path: Path) -> np.ndarray:
    dataset = pydicom.dcmread(path)
    return dataset.pixel_array.astype(float) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)


def test_ct_windows_clip_below_and_above_and_map_linearly_inside() -> None:
    path = _sample("CT_small.dcm")
    hu = _hu(path)
    lung = np.asarray(read_dicom(path, window="lung").image)[..., 0].astype(int)
    bone = np.asarray(read_dicom(path, window="bone").image)[..., 0].astype(int)
    assert not np.array_equal(lung, bone)
    centre, width = WINDOWS["bone"]
    below = hu <= centre - 0.5 - (width - 1) / 2
    assert below.any()
    assert (bone[below] == 0).all()
    centre, width = WINDOWS["lung"]
    above = hu > centre - 0.5 + (width - 1) / 2
    assert above.any()
    assert (lung[above] == 255).all()
    inside = ~above & (hu > centre - 0.5 - (width - 1) / 2)
    expected = np.rint(((hu - (centre - 0.5)) / (width - 1) + 0.5) * 255)
    assert np.abs(lung[inside] - expected[inside]).max() <= 1


def test_explicit_window_and_ct_rgb() -> None:
    path = _sample("CT_small.dcm")
    hu = _hu(path)
    custom = read_dicom(path, window=(0.0, 201.0))  # PS3.3 C.11.2.1.2.1: black up to -100.5 HU, white above 99.5
    grey = np.asarray(custom.image)[..., 0]
    assert custom.window == "window:0/201"
    assert (grey[hu <= -101] == 0).all() and (grey[hu >= 100] == 255).all()
    assert (grey[hu == 0] == 128).all()
    rgb = read_dicom(path, ct_rgb=True)
    assert rgb.window == "ct_rgb:lung/mediastinum/bone"
    channels = np.asarray(rgb.image)
    for channel, name in enumerate(("lung", "mediastinum", "bone")):
        assert np.array_equal(channels[..., channel], np.asarray(read_dicom(path, window=name).image)[..., 0])


def test_mr_uses_its_own_window_and_ignores_hu_presets() -> None:
    path = _sample("MR_small.dcm")
    default = read_dicom(path)
    assert default.window == "dataset window"  # Window Center 600 / Width 1600 in the file
    preset = read_dicom(path, window="lung")
    assert preset.window == "dataset window"
    assert np.array_equal(np.asarray(default.image), np.asarray(preset.image))
    raw = pydicom.dcmread(path).pixel_array.astype(float)
    expected = np.clip(np.rint(((raw - 599.5) / 1599 + 0.5) * 255), 0, 255)
    assert np.abs(np.asarray(default.image)[..., 0] - expected).max() <= 1


# --- synthetic files ------------------------------------------------------------------------------------------------


def write_dicom(
    path: Path,
    pixels: np.ndarray | None,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "CT",
    study: str | None = None,
    series: str | None = None,
    series_number: int = 1,
    instance: int = 1,
    **tags: Any,
) -> Path:
    """A small PS3.10 file with a patient name and birth date that must never reach a record."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.Modality = modality
    dataset.PatientName = PATIENT_NAME
    dataset.PatientBirthDate = BIRTH_DATE
    dataset.PatientID = "P001"
    dataset.StudyInstanceUID = study or generate_uid()
    dataset.SeriesInstanceUID = series or generate_uid()
    dataset.SeriesNumber = series_number
    dataset.InstanceNumber = instance
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    if pixels is not None:
        dataset.set_pixel_data(pixels, photometric, 16 if pixels.dtype == np.uint16 else 8, generate_instance_uid=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


def _ramp(size: int = 16) -> np.ndarray:
    return (np.arange(size * size, dtype=np.uint16).reshape(size, size) * 7).astype(np.uint16)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    mono2 = read_dicom(write_dicom(tmp_path / "m2.dcm", _ramp(), photometric="MONOCHROME2", modality="CR"))
    mono1 = read_dicom(write_dicom(tmp_path / "m1.dcm", _ramp(), photometric="MONOCHROME1", modality="CR"))
    a, b = np.asarray(mono2.image, dtype=int), np.asarray(mono1.image, dtype=int)
    assert a.std() > 0
    assert (a + b == 255).all()


def test_multi_frame_middle_by_default_all_on_request(tmp_path: Path) -> None:
    frames = np.zeros((5, 8, 8), dtype=np.uint8)
    for index in range(5):
        frames[index] = index * 50
        frames[index, 0, 0], frames[index, 0, 1] = 0, 255  # fixes the min-max range, so values compare across frames
    path = write_dicom(tmp_path / "cine.dcm", frames, modality="US")

    def centre(image: Any) -> int:
        return int(np.asarray(image)[4, 4, 0])

    middle = read_dicom(path)
    assert middle.frames == 5 and middle.frame_indices == (2,)
    assert centre(middle.image) == 100
    every = read_dicom(path, frames="all")
    assert [centre(image) for image in every.images] == [0, 50, 100, 150, 200]
    assert centre(read_dicom(path, frames=4).image) == 200
    with pytest.raises(ImageError, match="frame 9 does not exist"):
        read_dicom(path, frames=9)
    with pytest.raises(ImageError, match="exceed the limit"):
        read_dicom(path, frames="all", max_pixels=8 * 8 * 4)


def test_voi_lut_sequence_is_applied(tmp_path: Path) -> None:
    item = Dataset()
    item.LUTDescriptor = [100, 0, 16]
    item.add_new(0x00283006, "US", list(range(4095, -1, -41))[:100])  # LUT Data: a falling ramp, 12 of 16 bits used
    pixels = np.arange(100, dtype=np.uint16).reshape(10, 10)
    result = read_dicom(write_dicom(tmp_path / "voi.dcm", pixels, modality="DX", VOILUTSequence=[item]))
    grey = np.asarray(result.image)[..., 0]
    assert result.window == "dataset VOI LUT"
    assert grey[0, 0] == 255 and grey[9, 9] == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_no_pixel_data_truncated_zero_bytes_and_not_dicom(tmp_path: Path) -> None:
    no_pixels = write_dicom(tmp_path / "report.dcm", None, modality="SR", SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11")
    with pytest.raises(ImageError, match="no pixel data"):
        load_dicom_image(no_pixels)
    data = Path(shipped("CT_small.dcm")).read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    for loader in (load_dicom_image, load_image):
        with pytest.raises(ImageError, match=r"truncated\.dcm: .*(truncated|corrupt)"):
            loader(truncated)
    # pydicom 3 returns an empty dataset when encapsulated (compressed) pixel data is cut short
    jpeg = Path(shipped("SC_rgb_jpeg.dcm")).read_bytes()
    cut = tmp_path / "cut_jpeg.dcm"
    cut.write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(ImageError, match=r"cut_jpeg\.dcm: Secondary Capture Image Storage .*truncated"):
        load_dicom_image(cut)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    for loader in (load_dicom_image, load_image):
        with pytest.raises(ImageError, match=r"empty\.dcm: .*0 bytes"):
            loader(empty)
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file\n" * 20)
    with pytest.raises(ImageError, match=r"notes\.dcm: not a DICOM file"):
        load_dicom_image(text)


def test_bomb_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    calls: list[int] = []
    monkeypatch.setattr(pydicom.pixels, "pixel_array", lambda *args, **kwargs: calls.append(1))
    path = write_dicom(tmp_path / "big.dcm", _ramp(32))
    with pytest.raises(ImageError, match=r"big\.dcm: 1 frame\(s\) of 32x32 pixels exceed the limit of 1000"):
        load_dicom_image(path, max_pixels=1000)
    assert calls == []


def test_bad_options_are_config_errors() -> None:
    path = shipped("CT_small.dcm")
    with pytest.raises(ConfigError, match="unknown window"):
        read_dicom(path, window="liver")
    with pytest.raises(ConfigError, match="frames"):
        read_dicom(path, frames="first")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="width must be positive"):
        read_dicom(path, window=(40.0, 0.0))
    with pytest.raises(ConfigError, match="preset name or"):
        read_dicom(path, window=[40.0])
    assert read_dicom(path, window=[40, 400]).window == "window:40/400"  # lists from JSON/YAML configs work


def test_patient_name_and_birth_date_never_reach_metadata_or_records(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a" / "one.dcm", _ramp())
    assert pydicom.dcmread(path).PatientName == PATIENT_NAME
    dumps = [json.dumps(read_dicom(path).metadata)]
    for group_by in ("instance", "series", "study"):
        items = list(read_dicom_folder(tmp_path, group_by=group_by))
        assert items and all(isinstance(item, Record) for item in items)
        dumps += [json.dumps(item.to_dict()) for item in items if isinstance(item, Record)]
    for dump in dumps:
        assert "Doe" not in dump and "Jane" not in dump and BIRTH_DATE not in dump


# --- the folder reader ----------------------------------------------------------------------------------------------


@pytest.fixture
def study_folder(tmp_path: Path) -> Path:
    """One study, two series (CT in s1/, two instances each), a stray non-DICOM .dcm and a series report."""
    study, ct, mr = generate_uid(), generate_uid(), generate_uid()
    write_dicom(tmp_path / "s1" / "b.dcm", _ramp(), study=study, series=ct, instance=1, BodyPartExamined="CHEST")
    write_dicom(tmp_path / "s1" / "a.dcm", _ramp(), study=study, series=ct, instance=2, BodyPartExamined="CHEST")
    write_dicom(tmp_path / "s2" / "IM1", _ramp(), modality="MR", study=study, series=mr, series_number=2, instance=1)
    write_dicom(tmp_path / "s2" / "IM2", _ramp(), modality="MR", study=study, series=mr, series_number=2, instance=2)
    (tmp_path / "s2" / "junk.dcm").write_text("this is not DICOM")
    (tmp_path / "s1" / "report.txt").write_text("Findings: clear lungs.\n")
    (tmp_path / "s2" / "IM1.txt").write_text("Sagittal T2.\n")
    return tmp_path


def test_folder_instance_records_stream_and_errors_do_not_stop_the_walk(study_folder: Path) -> None:
    items = list(read_dicom_folder(study_folder))
    records = [item for item in items if isinstance(item, Record)]
    errors = [item for item in items if isinstance(item, DataError) and not isinstance(item, SkippedItem)]
    assert len(records) == 4
    assert len(errors) == 1 and "junk.dcm" in str(errors[0]) and "\n" not in str(errors[0])
    ct = next(record for record in records if record.image_paths[0].endswith("a.dcm"))
    assert ct.modality == "ct" and ct.domain == "radiology"
    assert ct.text == "Findings: clear lungs."
    assert ct.patient_id == "P001" and ct.study_id == ct.metadata["StudyInstanceUID"]
    assert ct.metadata["BodyPartExamined"] == "CHEST"
    assert ct.id == f"dicom:{ct.metadata['SOPInstanceUID']}"
    mr = next(record for record in records if record.image_paths[0].endswith("IM1"))
    assert mr.modality == "mri" and mr.text == "Sagittal T2."
    assert next(record for record in records if record.image_paths[0].endswith("IM2")).text == ""


def test_folder_groups_by_series_and_study(study_folder: Path) -> None:
    series = ItemSet.collect("series", read_dicom_folder(study_folder, group_by="series"))
    assert len(series.records) == 2 and len(series.errors) == 1
    ct = next(record for record in series.records if record.modality == "ct")
    assert [Path(path).name for path in ct.image_paths] == ["b.dcm", "a.dcm"]  # by Instance Number, not name
    assert ct.metadata["instances"] == 2 and isinstance(ct.metadata["SOPInstanceUID"], list)
    assert ct.id == f"dicom:series:{ct.metadata['SeriesInstanceUID']}"
    study = ItemSet.collect("study", read_dicom_folder(study_folder, group_by="study", reports="none"))
    (case,) = study.records
    assert [Path(path).name for path in case.image_paths] == ["b.dcm", "a.dcm", "IM1", "IM2"]
    assert len(case.metadata["SeriesInstanceUID"]) == 2
    assert case.text == ""
    assert all(load_image(path).mode == "RGB" for path in case.image_paths)


def test_folder_reader_options_detect_and_domains(study_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ConfigError, match="group_by"):
        next(read_dicom_folder(study_folder, group_by="patient"))  # type: ignore[arg-type]
    assert SPEC.name == "dicom" and SPEC.detect(study_folder) and SPEC.detect(study_folder / "s2" / "IM1")
    other = tmp_path_factory.mktemp("other")
    (other / "a.png").write_bytes(b"\x89PNG")
    assert not SPEC.detect(other)
    for code, domain in (("XA", "radiology"), ("OP", "ophthalmology"), ("RTDOSE", "other")):
        folder = tmp_path_factory.mktemp(code)
        write_dicom(folder / "x.dcm", _ramp(), modality=code)
        (record,) = list(read_dicom_folder(folder))
        assert isinstance(record, Record) and record.domain == domain


def test_shipped_dicomdir_tree_groups_into_its_documented_studies() -> None:
    root = _TEST_ROOT / "dicomdirtests"
    studies = ItemSet.collect("study", read_dicom_folder(root, group_by="study"))
    series = ItemSet.collect("series", read_dicom_folder(root, group_by="series"))
    assert len(studies.records) == 6 and len(series.records) == 13  # as listed in pydicom's test_files/README.txt
    assert studies.errors == [] and studies.skipped > 0  # DICOMDIR files and header-only CT files are skipped


def test_missing_pydicom_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_dicom(tmp_path / "x.dcm", _ramp())
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(MissingExtraError, match=r"mmedrag\[dicom\]"):
        load_dicom_image(path)
    with pytest.raises(MissingExtraError, match=r"mmedrag\[dicom\]"):
        load_image(path)
    with pytest.raises(MissingExtraError, match=r"mmedrag\[dicom\]"):
        next(read_dicom_folder(tmp_path))


def test_a_repeated_sop_instance_uid_is_skipped_not_duplicated(study_folder: Path) -> None:
    (study_folder / "copy").mkdir()
    (study_folder / "copy" / "again.dcm").write_bytes((study_folder / "s1" / "a.dcm").read_bytes())
    items = ItemSet.collect("dicom", read_dicom_folder(study_folder))
    assert len(items.records) == 4 and len({record.id for record in items.records}) == 4
    assert items.skipped == 1


def _renders(path: str) -> list[bytes] | None:
    try:
        return [
            image.tobytes() for image in read_dicom(path, frames="all").images + read_dicom(path, ct_rgb=True).images
        ]
    except ImageError:
        return None


def test_strip_by_strip_rendering_gives_the_pixels_of_a_whole_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped file renders to the same bytes whether its frame is one strip or strips of a few rows (the
    min-max range, VOI LUTs, windows, palettes, MONOCHROME1 and 16-bit colour all span strips)."""
    from mmedrag.io import dicom_render

    small = [p for p in TEST_FILES if Path(p).stat().st_size < 600_000]
    monkeypatch.setattr(dicom_render, "_STRIP_PIXELS", 1 << 40)
    whole = {path: _renders(path) for path in small}
    monkeypatch.setattr(dicom_render, "_STRIP_PIXELS", 150)  # strips of one to a few rows, ragged at the bottom
    decoded = [path for path in small if whole[path] is not None]
    assert len(decoded) > 40
    for path in decoded:
        assert _renders(path) == whole[path], Path(path).name


def test_a_downscaled_dicom_equals_the_full_rendering_downscaled(tmp_path: Path) -> None:
    from mmedrag.io.limits import fit

    path = write_dicom(tmp_path / "big.dcm", np.tile(_ramp(64), (3, 5)), modality="CR")  # 192 x 320
    full = read_dicom(path)
    small = read_dicom(path, max_side=100)
    assert small.image.size == (100, 60) and small.rows == 192 and small.columns == 320
    assert small.image.tobytes() == fit(full.image, 100).tobytes()
    loaded = load_image(path, max_side=100)
    assert loaded.tobytes() == small.image.tobytes() and loaded.info["mmedrag.source_size"] == (320, 192)
