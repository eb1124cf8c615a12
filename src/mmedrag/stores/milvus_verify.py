"""``mmedrag index --verify`` for a Milvus-backed index: every row read back and checked, nothing changed.

Milvus keeps its own files' integrity; what can go wrong on our side is a build killed half-way (a collection left
``building``), a record row whose payload no longer parses, a view or vector without its record, or a fingerprint
that cannot be read. The report has the keys of the folder index's (:meth:`mmedrag.stores.index.FolderIndex.verify`).
"""

from __future__ import annotations

import json
from typing import Any

from mmedrag.errors import MmedragError
from mmedrag.stores.milvus import MilvusIndex
from mmedrag.types import Record

_SHOWN = 5  # problems listed per kind (the count says how many in all)


def verify_milvus(index: MilvusIndex) -> dict[str, Any]:
    """Read every row of ``index`` and report ``{"ok", "problems", "warnings", "version", "rows", "counts"}``."""
    problems: list[str] = []
    warnings: list[str] = []
    if index.meta.get("state") != "ready":
        warnings.append(f"build state is {index.meta.get('state')!r}, not 'ready': a build was interrupted; re-run it")
    records: set[str] = set()
    text = bad = 0
    for row in index.iter_rows('kind == "record"', ["record_id", "data", "has_vector", "content"]):
        try:
            raw = json.loads(row["data"])
            raw["image_paths"] = tuple(raw.get("image_paths", ()))
            if Record(**raw).id != row["record_id"] or not row["content"]:
                raise ValueError("id or content hash does not match the row")
        except (ValueError, TypeError, MmedragError) as exc:
            bad += 1
            if bad <= _SHOWN:
                problems.append(f"record row {row['record_id']!r}: payload unreadable ({exc}); re-index the record")
        records.add(row["record_id"])
        text += bool(row["has_vector"])
    if bad > _SHOWN:
        problems.append(f"... {bad - _SHOWN} more unreadable record rows")
    views = image = orphans = 0
    for row in index.iter_rows('kind == "image"', ["record_id", "has_vector", "sha256"]):
        views += 1
        image += bool(row["has_vector"])
        if row["record_id"] not in records:
            orphans += 1
            if orphans <= _SHOWN:
                problems.append(f"image row of no record {row['record_id']!r}; re-run the build or delete the id")
        elif len(row["sha256"]) != 64:
            problems.append(f"image row of {row['record_id']!r}: no pixel hash; re-index the record")
    counts = {"records": len(records), "text": text, "image": image, "fingerprints": views}
    return {
        "index": index.path,
        "version": index.version(),
        "rows": len(records) + views + 1,
        "counts": counts,
        "problems": problems,
        "warnings": warnings,
        "ok": not problems,
    }
