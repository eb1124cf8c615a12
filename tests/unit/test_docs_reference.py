"""The documentation's generated reference pages (docs/hooks/reference.py) cover every verb, key and dataset."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from mmedrag.cli import COMMANDS
from mmedrag.config import SELECTOR_MODELS, PipelineConfig
from mmedrag.datasets import load_catalogue

HOOK = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "reference.py"


def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference_hook", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_has_every_verb_and_data_action() -> None:
    text = hook().render_cli()
    for command in COMMANDS:
        assert f"## mmedrag {command.name}\n" in text and f"usage: mmedrag {command.name}" in text
    for action in ("list", "fetch", "verify", "path"):
        assert f"### mmedrag data {action}\n" in text


def test_config_reference_has_every_key_with_a_meaning() -> None:
    text = hook().render_config()
    for name in list(PipelineConfig.model_fields) + [n for model in SELECTOR_MODELS for n in model.model_fields]:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert rows and all(not line.rstrip().endswith("|  |") for line in rows), name


def test_dataset_reference_lists_the_catalogue_and_markers_are_replaced() -> None:
    module = hook()
    text = module.render_datasets()
    for name, dataset in load_catalogue().items():
        assert f"### `{name}`" in text and dataset.citation in text
    page = module.on_page_markdown(f"# x\n{module.DATASETS_MARKER}\n")
    assert module.DATASETS_MARKER not in page and "`vqa_rad`" in page
