"""The registry every role is built from: one spec syntax, aliases, dotted paths, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from mmedrag.backends import ENCODERS, GENERATORS, ROLES, SELECTORS, STORES
from mmedrag.errors import ConfigError
from mmedrag.registry import Registry, int_argument


class Thing:
    def __init__(self, size: int = 1, label: str = "x") -> None:
        self.size, self.label = size, label


@pytest.fixture
def things() -> Registry[Thing]:
    registry: Registry[Thing] = Registry("thing")
    registry.add("plain", Thing)
    registry.add("sized", Thing, int_argument("size"), help="a thing of a size")
    registry.add("labelled", Thing, "label")
    registry.alias("big", {"kind": "sized", "size": 99})
    return registry


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("plain", {"kind": "plain"}),
        ("sized:4", {"kind": "sized", "size": 4}),
        ("labelled:a:b", {"kind": "labelled", "label": "a:b"}),  # only the first ':' separates
        ({"kind": "sized", "size": 3, "label": None}, {"kind": "sized", "size": 3}),
        ("big", {"kind": "sized", "size": 99}),
    ],
)
def test_one_spec_syntax_for_strings_mappings_and_aliases(
    things: Registry[Thing], spec: Any, parsed: dict[str, Any]
) -> None:
    assert things.parse(spec) == parsed


def test_create_builds_from_a_spec_and_overrides_win(things: Registry[Thing]) -> None:
    made = things.create("sized:4", label="y")
    assert (made.size, made.label) == (4, "y")
    assert things.create({"kind": "labelled", "label": "z"}, size=None).label == "z"  # None overrides are ignored


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown thing 'nope'; use one of plain, sized, labelled"),
        ("plain:3", "'plain' takes no argument"),
        ("sized:zero", "size must be a positive integer"),
        ({"size": 3}, "needs a 'kind'"),
        ("", "must be KIND, KIND:ARGUMENT or a mapping"),
        ({"kind": "plain", "colour": "red"}, "bad parameters for thing 'plain'"),
        ("no.such.module:Thing", "cannot import 'no.such.module:Thing'"),
    ],
)
def test_bad_specs_are_one_line_config_errors(things: Registry[Thing], spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        things.create(spec)


def test_out_of_tree_code_registers_with_a_decorator_or_is_named_by_path(things: Registry[Thing]) -> None:
    @things.register("custom", argument="label")
    def custom(label: str) -> Thing:
        """A thing made outside the package."""
        return Thing(label=label)

    assert things.create("custom:q").label == "q" and things.describe()["custom"] == "A thing made outside the package."
    made = things.create({"kind": "mmedrag.registry:Registry", "role": "made by path"})
    assert isinstance(made, Registry) and made.role == "made by path"
    with pytest.raises(ConfigError, match="registered twice"):
        things.add("custom", Thing)


def test_names_keep_registration_order(things: Registry[Thing]) -> None:
    assert things.names() == ["plain", "sized", "labelled"]


def test_listing_kinds_imports_no_backend() -> None:
    import subprocess
    import sys

    heavy = ("torch", "faiss", "mmedrag.stores.faiss_store", "mmedrag.generation.hf")
    code = f"import sys, mmedrag.backends as b; b.registered_kinds(); print([m for m in {heavy} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_role_has_its_registry_and_known_kinds() -> None:
    assert set(ROLES) == {"reader", "encoder", "store", "generator", "selector", "router", "tower"}
    assert {"exact", "faiss"} <= set(STORES.names()) and {"extractive", "hf", "openai"} <= set(GENERATORS.names())
    assert ENCODERS.parse("biomedclip")["model"].startswith("hf-hub:microsoft/BiomedCLIP")
    assert SELECTORS.create("gap:0.2").max_k == 10
    assert GENERATORS.parse("openai:llava@http://127.0.0.1:8000/v1") == {
        "kind": "openai",
        "model": "llava",
        "base_url": "http://127.0.0.1:8000/v1",
    }
