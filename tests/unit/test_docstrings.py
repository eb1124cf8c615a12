"""Every public name and every registered backend says what it is in its first docstring line."""

from __future__ import annotations

import inspect

import pytest

import mmedrag
from mmedrag.backends import ROLES
from mmedrag.errors import MissingExtraError


def _summary(obj: object) -> str:
    return (inspect.getdoc(obj) or "").strip().splitlines()[0] if inspect.getdoc(obj) else ""


@pytest.mark.parametrize("name", sorted(set(mmedrag.__all__) - {"__version__"}))
def test_public_names_have_a_one_line_summary(name: str) -> None:
    assert len(_summary(getattr(mmedrag, name))) >= 10, f"mmedrag.{name} needs a docstring"


@pytest.mark.parametrize(("role", "kind"), [(role, kind) for role, reg in ROLES.items() for kind in reg.names()])
def test_registered_backends_have_a_one_line_summary(role: str, kind: str) -> None:
    try:
        backend = ROLES[role].get(kind)
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    described = backend if role != "reader" else backend.read  # a reader is described by its read function
    assert len(_summary(described)) >= 10, f"{role} {kind!r} ({ROLES[role].entry(kind).target}) needs a docstring"
