from __future__ import annotations

from pathlib import Path

import pytest

from mmedrag.config import dump_config, load_config
from mmedrag.errors import ConfigError


def test_precedence_defaults_then_yaml_then_set_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("selector: {k: 5}\nretrieval: {fetch_k: 20, mode: text}\ngenerator: extractive\n")
    config = load_config(path, ["selector.k=7", "prompt.max_reference_tokens=256"], {"retrieval.mode": "image"})
    assert (config.selector.k, config.retrieval.fetch_k, config.retrieval.mode) == (7, 20, "image")
    assert config.prompt.max_reference_tokens == 256 and config.default_domain == "radiology"


def test_dumped_config_loads_back_identically(tmp_path: Path) -> None:
    config = load_config(None, ["index=/data/idx", "generator=openai:m@http://localhost:8000/v1"])
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["selector.kk=3"], "selector.kk: Extra inputs are not permitted"),
        (["selector.k=-1"], "selector.k: Input should be greater than or equal to 0"),
        (["retrieval.mode=sideways"], "retrieval.mode"),
        (["nokey"], "expected key.path=value"),
        (["selector.k=3", "selector.k.x=1"], "is not a section"),
    ],
)
def test_bad_settings_fail_with_the_key_named(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(None, overrides)


def test_unreadable_yaml_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("selector: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: cannot read the config"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(tmp_path / "list.yaml")


def test_the_example_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "pipeline.yaml")
    assert config.selector.k == 3 and config.retrieval.near_duplicate_bits == 6


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"generator": "nope"}, "config generator: unknown generator 'nope'"),
        ({"generator": "openai:model-without-url"}, "config generator: bad generator spec"),
        ({"encoder": "nope:3"}, "config encoder: unknown encoder 'nope'"),
        ({"encoder": "hash:zero"}, "config encoder: "),
        ({"router.path": "zero_shot"}, None),  # a folder named zero_shot: checked when it is opened
        ({"index": "milvus:"}, "config index: bad index spec 'milvus:'"),
        ({"index": "milvus:http://h:19530|token=x"}, "config index: never put a Milvus token"),
        ({"domains.pathology.index": "milvus:|collection=x"}, "config domains.pathology.index: bad index spec"),
        ({"domains.pathology.encoder": {"kind": "nope"}}, "config domains.pathology.encoder: unknown encoder"),
        ({"selector.kind": "weird"}, "config selector: unknown selector 'weird'"),
        (
            {"selector.kind": "top_k", "selector.gamma": 0.2},
            "config selector.gamma: Extra inputs are not permitted for selector kind 'top_k'",
        ),
        (
            {"selector.kind": "gap", "selector.ratio": 2.0},
            "config selector.ratio: Extra inputs are not permitted for selector kind 'gap'",
        ),
        ({"selector.kind": "calibrated"}, "config selector.calibration: Field required for selector kind 'calibrated'"),
        ({"selector.kind": "calibrated", "selector.calibration": "c.json", "selector.gamma": 0.1}, "selector.gamma"),
        ({"selector.gamma": 0.2}, "selector kind 'top_k'"),  # kind defaults to top_k
    ],
)
def test_every_spec_field_is_checked_when_the_config_loads(values: dict[str, object], words: str | None) -> None:
    """Each bad spec fails at load (before any model or index is opened) in one line naming the field."""
    if words is None:
        assert load_config(values=values)
        return
    with pytest.raises(ConfigError) as caught:
        load_config(values=values)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"index": "http://host:19530"}, "http://host:19530"),  # a string spec: no Path folds "//"
        ({"index": "milvus:http://host:19530|collection=cxr"}, "milvus:http://host:19530|collection=cxr"),
        ({"index": "idx/medpix"}, "idx/medpix"),
    ],
)
def test_index_is_kept_as_the_string_given(values: dict[str, object], expected: str) -> None:
    assert load_config(values=values).index == expected


def test_each_selector_kind_builds_with_exactly_its_options() -> None:
    from mmedrag.factory import build_selector
    from mmedrag.retrieval.context import GapCutoff, RatioToTop1, TopK

    assert build_selector(load_config(values={"selector.k": 4}).selector) == TopK(k=4)
    gap = load_config(values={"selector.kind": "gap", "selector.gamma": 0.3, "selector.k": 6}).selector
    assert build_selector(gap) == GapCutoff(gamma=0.3, k_min=1, k=6)
    ratio = load_config(values={"selector.kind": "ratio_to_top1", "selector.ratio": 2.0}).selector
    assert build_selector(ratio) == RatioToTop1(ratio=2.0, k=3)
