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
