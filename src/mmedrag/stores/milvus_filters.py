"""Milvus boolean expressions built from filter values, with every value passed as an escaped string literal.

Milvus 2.3 has no bound parameters in filter expressions (``filter_params`` templates came in 2.5), so values are
written as literals. A JSON string literal (double quotes; backslash escapes for ``"``, ``\\`` and control
characters) is read back unchanged by both the server's expression parser and Milvus Lite's, so an id such as
``x" or id != "`` stays one string and can never close the literal. Field names never come from the user: they are
checked against :data:`FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

# Scalar fields that expressions may name (schemas: mmedrag.stores.milvus and mmedrag.stores.milvus_store).
FIELDS = frozenset(
    {
        "pk",
        "kind",
        "record_id",
        "domain",
        "modality",
        "split",
        "source",
        "patient_id",
        "study_id",
        "sha256",
        "has_vector",
    }
    | {f"band{i}" for i in range(8)}
)
FILTERABLE = ("domain", "modality", "split", "source")


def literal(value: str) -> str:
    """``value`` as a Milvus string literal that cannot break out of its quotes."""
    if not isinstance(value, str):
        raise TypeError(f"filter values must be strings, got {type(value).__name__}")
    return json.dumps(value, ensure_ascii=False)


def _field(name: str) -> str:
    if name not in FIELDS:
        raise ValueError(f"cannot filter on {name!r}; use one of {sorted(FIELDS)}")
    return name


def one_of(field: str, values: str | Iterable[str]) -> str:
    """``field`` equals the value, or one of the values (an empty list matches nothing)."""
    items = [values] if isinstance(values, str) else sorted(set(values))
    if len(items) == 1:
        return f"{_field(field)} == {literal(items[0])}"
    return f"{_field(field)} in [{', '.join(literal(v) for v in items)}]"


def none_of(field: str, values: Iterable[str]) -> str | None:
    """``field`` differs from every value; None when there is nothing to exclude."""
    items = sorted(set(values))
    if not items:
        return None
    if len(items) == 1:
        return f"{_field(field)} != {literal(items[0])}"
    return f"{_field(field)} not in [{', '.join(literal(v) for v in items)}]"


def int_equals_any(pairs: Sequence[tuple[str, int]]) -> str:
    """``a == 1 or b == 2``: used to find images sharing a difference-hash band with the query."""
    return " or ".join(f"{_field(name)} == {int(value)}" for name, value in pairs)


def conjunction(*clauses: str | None) -> str:
    """``(a) and (b)`` over the clauses given (None and empty ones are skipped)."""
    kept = [clause for clause in clauses if clause]
    return " and ".join(f"({clause})" for clause in kept)


def search_expression(
    kind: str,
    filters: Mapping[str, str | Sequence[str]],
    patient_id: str | None = None,
    study_id: str | None = None,
    exclude_records: Iterable[str] = (),
) -> str:
    """Rows of ``kind`` (``record`` or ``image``) passing the filters and the leakage guard.

    Args:
        filters: field -> value or values, for fields in :data:`FILTERABLE`.
        patient_id: exclude rows of this patient (the query's own), when given.
        study_id: exclude rows of this study, when given.
        exclude_records: record ids to exclude (pixel-identical or near-duplicate images of the query).
    """
    clauses = [one_of("kind", kind), "has_vector == true"]
    for name, value in filters.items():
        if name not in FILTERABLE:
            raise ValueError(f"cannot filter on {name!r}; use one of {FILTERABLE}")
        if value:
            clauses.append(one_of(name, value))
    if patient_id:
        clauses.append(f"patient_id != {literal(patient_id)}")
    if study_id:
        clauses.append(f"study_id != {literal(study_id)}")
    clauses.append(none_of("record_id", exclude_records) or "")
    return conjunction(*clauses)
