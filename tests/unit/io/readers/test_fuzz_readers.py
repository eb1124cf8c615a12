"""Property-based fuzzing of the readers: random bytes and mutated manifests never crash or hang them.

"Crash" means any exception other than the documented one-line errors (MmedragError subclasses); "hang" means an
example slower than the hypothesis deadline.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_image
from mmedrag.errors import DataError, ImageError, MissingExtraError, MmedragError
from mmedrag.io.images import load_image
from mmedrag.io.manifest import ManifestError, iter_manifest, record_from_dict
from mmedrag.io.readers import read_source

FUZZ = settings(max_examples=120, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["id", "text", "image_paths", "domain", "modality", "patient_id", "study_id", "split", "source", "metadata"]


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    make_image(1, size=(32, 32)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".png", ".jpg", ".dcm", ".bin", ""]))
def test_random_bytes_as_an_image_decode_to_rgb_or_give_an_image_error(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except ImageError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)  # one line naming the file
        return
    except MissingExtraError as exc:  # DICOM decoding without the dicom extra installed
        assert "mmedrag[dicom]" in str(exc)
        return
    assert image.mode == "RGB" and image.width * image.height > 0


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, len(PNG) - 1), st.integers(0, 255)), min_size=1, max_size=12),
    cut=st.integers(8, len(PNG)),
)
def test_corrupted_png_never_escapes_as_anything_but_image_error(tmp_path: Path, flips, cut: int) -> None:
    data = bytearray(PNG[:cut])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    try:
        image = load_image(path)
    except ImageError:
        return
    assert image.mode == "RGB"


@FUZZ
@given(lines=st.lists(st.binary(max_size=200), max_size=8))
def test_random_manifest_bytes_are_collected_as_line_errors(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(lines))
    errors: list[ManifestError] = []
    records = list(iter_manifest(path, errors=errors))
    assert all(isinstance(e, ManifestError) and "\n" not in str(e) for e in errors)
    assert len(records) + len(errors) <= path.read_bytes().count(b"\n") + 1


@FUZZ
@given(
    mutations=st.dictionaries(st.sampled_from(FIELDS + ["bogus"]), json_values, max_size=5),
    drop=st.sets(st.sampled_from(FIELDS), max_size=4),
)
def test_mutated_manifest_objects_either_validate_or_name_the_field(mutations: dict, drop: set) -> None:
    valid = {"id": "a", "text": "Clear lungs.", "image_paths": ["a.png"], "domain": "radiology", "split": "train"}
    candidate = {k: v for k, v in {**valid, **mutations}.items() if k not in drop}
    try:
        record = record_from_dict(candidate, where=("m.jsonl", 3))
    except ManifestError as exc:
        assert exc.line == 3 and str(exc).startswith("m.jsonl:3")
        return
    assert record.id and (record.text or record.image_paths)


@FUZZ
@given(payload=json_values)
def test_random_json_in_a_reference_format_file_is_read_or_a_one_line_data_error(
    tmp_path: Path, payload: object
) -> None:
    path = tmp_path / "retriever_train.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    _read_or_one_line_error(path, "mmed_rag", DataError)


@FUZZ
@given(payload=json_values)
def test_random_json_in_a_medpix_folder_is_read_or_a_one_line_error(tmp_path: Path, payload: object) -> None:
    folder = tmp_path / "medpix"
    folder.mkdir(exist_ok=True)
    (folder / "Descriptions.json").write_text(json.dumps(payload), encoding="utf-8")
    (folder / "Case_topic.json").write_text(json.dumps([payload]), encoding="utf-8")
    _read_or_one_line_error(folder, "medpix2", MmedragError)


def _read_or_one_line_error(source: Path, fmt: str, error: type[Exception]) -> None:
    """Reading either fails with one line of the expected error type, or yields well-formed items."""
    try:
        dataset = read_source(source, fmt)
    except error as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(record.id and (record.text or record.image_paths) for record in dataset.records)
    assert all(question.id and question.question for question in dataset.questions)
