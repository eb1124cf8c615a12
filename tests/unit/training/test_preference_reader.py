"""The preference-file reader: validation with file/line/field in every error, image checks, identical-pair dropping,
held-out splits by question, and the TRL-format dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import make_image
from mmedrag.errors import DataError
from mmedrag.training.preference_reader import (
    PreferenceSet,
    read_preferences,
    split_heldout,
    to_dataset,
)


def _pair(number: int, **changes: Any) -> dict[str, Any]:
    pair = {
        "id": f"q{number}:cross_modality",
        "pair_type": "cross_modality",
        "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Effusion?"}]}],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "Yes, there is."}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "No."}]}],
        "images": [f"img{number}.png"],
        "rejected_images": [f"noise/q{number}.png"],
        "question_id": f"q{number}",
        "domain": "radiology",
        "meta": {"gold": "yes"},
    }
    pair.update(changes)
    return pair


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "noise").mkdir()
    for number in range(6):
        make_image(number).save(tmp_path / f"img{number}.png")
        make_image(100 + number).save(tmp_path / "noise" / f"q{number}.png")
    return tmp_path


def _write(folder: Path, pairs: list[Any], name: str = "prefs.jsonl") -> Path:
    path = folder / name
    path.write_text("".join((p if isinstance(p, str) else json.dumps(p)) + "\n" for p in pairs), encoding="utf-8")
    return path


def test_reads_valid_pairs_with_relative_absolute_and_null_rejected_images(folder: Path) -> None:
    pairs = [
        _pair(0),
        _pair(1, images=[str(folder / "img1.png")], rejected_images=None, pair_type="retrieval_hurts"),
        _pair(2, prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "image"}]}]),
    ]
    prefs = read_preferences(_write(folder, ["", *pairs]))
    assert [p.id for p in prefs.pairs] == ["q0:cross_modality", "q1:cross_modality", "q2:cross_modality"]
    first, second, third = prefs.pairs
    assert first.images == (str(folder / "img0.png"),)
    assert first.rejected_images == (str(folder / "noise" / "q0.png"),)
    assert second.rejected_images is None and second.rejected_paths == second.images
    assert third.prompt[0] == {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}
    assert first.line == 2 and first.group == "q0"
    assert prefs.counts() == {"cross_modality": 2, "retrieval_hurts": 1}
    assert prefs.dropped_identical == [] and len(prefs.digest) == 16


def test_digest_follows_image_contents(folder: Path) -> None:
    path = _write(folder, [_pair(0)])
    first = read_preferences(path).digest
    assert read_preferences(path).digest == first
    make_image(55).save(folder / "noise" / "q0.png")
    assert read_preferences(path).digest != first


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"prefs.jsonl:1: not valid JSON"),
        ("[1, 2]", r"prefs.jsonl:1: a pair must be a JSON object"),
        (
            json.dumps({k: v for k, v in _pair(0).items() if k != "chosen"}),
            r":1 \(pair q0:cross_modality\): missing "
            r"field 'chosen'",
        ),
        (json.dumps(_pair(0, pair_type="crossmodal")), r"pair_type 'crossmodal' is not one of cross_modality"),
        (json.dumps(_pair(0, rejected_images=["a.png", "b.png"])), r"rejected_images has 2 path\(s\) but images has 1"),
        (json.dumps(_pair(0, images=["img0.png", "img1.png"], rejected_images=None)), r"1 image placeholder"),
        (json.dumps(_pair(0, chosen=[{"role": "assistant", "content": "  "}])), r"field 'chosen' has no text"),
        (
            json.dumps(_pair(0, rejected=[{"role": "user", "content": "No."}])),
            r"rejected\[0\] must be a message with "
            r"role one of assistant",
        ),
        (json.dumps(_pair(0, images="img0.png")), r"field 'images' must be a non-empty list of image paths"),
        (json.dumps(_pair(0, images=[])), r"field 'images' must be a non-empty list"),
        (
            json.dumps(_pair(0, prompt=[{"role": "user", "content": [{"type": "video"}]}])),
            r"prompt\[0\].content has a "
            r"part",
        ),
        (json.dumps(_pair(0, domain=3)), r"field 'domain' must be a string"),
    ],
)
def test_malformed_lines_name_file_line_and_field(folder: Path, line: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_preferences(_write(folder, [line]))


def test_errors_name_the_line_of_the_bad_pair(folder: Path) -> None:
    with pytest.raises(DataError, match=r"prefs.jsonl:3 \(pair q2:cross_modality\): missing field 'images'"):
        read_preferences(_write(folder, [_pair(0), _pair(1), {k: v for k, v in _pair(2).items() if k != "images"}]))


def test_duplicate_ids_and_empty_ids(folder: Path) -> None:
    with pytest.raises(DataError, match=r":2 \(pair q0:cross_modality\): duplicate id \(first on line 1\)"):
        read_preferences(_write(folder, [_pair(0), _pair(0)]))
    prefs = read_preferences(_write(folder, [_pair(0, id=""), _pair(1, id=None)]))
    assert [p.id for p in prefs.pairs] == ["prefs.jsonl:1", "prefs.jsonl:2"]  # the reference left some ids empty


def test_missing_and_corrupt_images_name_the_pair_and_path(folder: Path) -> None:
    path = _write(folder, [_pair(0), _pair(1, rejected_images=["noise/gone.png"])])
    with pytest.raises(DataError, match=r"pair q1:cross_modality\): rejected_images\[0\] cannot be used: .*gone\.png"):
        read_preferences(path)
    (folder / "img2.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"pair q2:cross_modality\): images\[0\] cannot be used: .*img2\.png"):
        read_preferences(_write(folder, [_pair(2)], "corrupt.jsonl"))
    assert read_preferences(path, check_images=False).pairs[1].rejected_images == (str(folder / "noise/gone.png"),)


def test_unreadable_or_empty_files(folder: Path) -> None:
    with pytest.raises(DataError, match="cannot read the preference file"):
        read_preferences(folder / "absent.jsonl")
    with pytest.raises(DataError, match="no preference pairs"):
        read_preferences(_write(folder, ["", "  "]))


def test_identical_pairs_are_dropped_with_a_warning(folder: Path) -> None:
    same_text = {"rejected": _pair(0)["chosen"]}
    shutil.copy(folder / "img3.png", folder / "copy3.png")
    pairs = [
        _pair(0),
        _pair(1, **same_text, rejected_images=None),  # same text, same image: zero gradient
        _pair(2, **same_text, rejected_images=["img2.png"]),  # same path spelled out
        _pair(3, **same_text, rejected_images=["copy3.png"]),  # another file, same picture
        _pair(4, **same_text),  # same text, noise image: a real cross-modality pair (issue #3), kept
    ]
    with pytest.warns(UserWarning, match=r"dropped 3 of 5 pair\(s\).*q1:cross_modality"):
        prefs = read_preferences(_write(folder, pairs))
    assert [p.id for p in prefs.pairs] == ["q0:cross_modality", "q4:cross_modality"]
    assert prefs.dropped_identical == ["q1:cross_modality", "q2:cross_modality", "q3:cross_modality"]


def test_nothing_left_after_dropping_is_an_error(folder: Path) -> None:
    path = _write(folder, [_pair(0, rejected=_pair(0)["chosen"], rejected_images=None)])
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable pair left after dropping 1"):
        read_preferences(path)


def test_heldout_split_keeps_questions_whole(folder: Path) -> None:
    pairs = [_pair(n, id=f"q{n}:a") for n in range(6)] + [_pair(n, id=f"q{n}:b") for n in range(6)]
    prefs = read_preferences(_write(folder, pairs), check_images=False)
    train, held = split_heldout(prefs.pairs, 0.34, seed=1)
    assert len(held) == 4 and len(train) == 8
    assert not {p.group for p in train} & {p.group for p in held}
    assert split_heldout(prefs.pairs, 0.34, seed=1) == (train, held)
    subset = prefs.subset(held, "heldout")
    assert isinstance(subset, PreferenceSet) and subset.digest != prefs.digest and subset.pairs == held
    with pytest.raises(DataError, match="between 0 and 1"):
        split_heldout(prefs.pairs, 1.0)
    with pytest.raises(DataError, match="1 question"):
        split_heldout(prefs.pairs[:1], 0.5)


def test_dataset_is_in_trl_conversational_vision_format(folder: Path) -> None:
    pytest.importorskip("datasets")
    prefs = read_preferences(_write(folder, [_pair(0), _pair(1, rejected_images=None)]))
    dataset = to_dataset(prefs.pairs)
    assert dataset.column_names == [
        "id", "pair_type", "question_id", "domain", "prompt", "chosen", "rejected", "images", "rejected_images"
    ]  # fmt: skip
    first, second = dataset[0], dataset[1]
    assert [i.size for i in first["images"]] == [(48, 40)] and first["images"][0].mode == "RGB"
    assert first["rejected_images"][0].tobytes() == make_image(100).convert("RGB").tobytes()
    assert second["rejected_images"][0].tobytes() == second["images"][0].tobytes()  # null: the chosen image
    image_part = first["prompt"][0]["content"][0]
    assert image_part["type"] == "image" and "image" not in image_part  # TRL fills only parts without "image"
    assert first["chosen"] == [{"role": "assistant", "content": [{"type": "text", "text": "Yes, there is."}]}]
    with pytest.raises(DataError):
        to_dataset([])
