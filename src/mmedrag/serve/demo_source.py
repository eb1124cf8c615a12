"""The demo's knowledge base for ``mmedrag serve --demo`` / ``make serve``: built on first use, then reused.

The demo module is imported here and nowhere else in the service, so moving it is a one-line change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmedrag.apps.demo import (  # the one import of the demo
    DemoSettings,
    default_data_dir,
    default_work_dir,
    ensure_scope,
    run_demo,
)
from mmedrag.config import CONFIDENCE_FILE
from mmedrag.errors import DataError


def demo_values(
    data_dir: Path | None = None, work_dir: Path | None = None, log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Config values serving the demo's MedPix 2.0 index (trained tower + extractive answerer), built if missing.

    The first call trains the demo's image tower and indexes MedPix (about two minutes on two CPU cores); later
    calls find both in the cache (``~/.cache/mmedrag/demo``) and return at once.
    """
    from mmedrag.stores.index import FolderIndex

    work = work_dir or default_work_dir()
    index = work / "index"
    settings = DemoSettings(data_dir=data_dir or default_data_dir(), work_dir=work, limit=1)
    if not FolderIndex.exists(index) or not (work / "tower" / "demo.json").is_file():
        missing = [name for name in ("medpix2", "vqa_rad") if not (settings.data_dir / name).is_dir()]
        if missing:
            raise DataError(
                f"{settings.data_dir}: {' and '.join(missing)} not found; run `mmedrag demo` (or `make demo`) once: "
                f"it fetches the datasets and builds the knowledge base this command serves"
            )
        log(f"building the demo knowledge base in {work} (first use: about two minutes)")
        run_demo(settings, log=log)
    else:
        ensure_scope(index, log)
    values: dict[str, Any] = {
        "index": str(index),
        "retrieval.near_duplicate_bits": settings.near_duplicate_bits,
        "selector.k": settings.k,
    }
    confidence = work / "confidence" / CONFIDENCE_FILE  # fitted by the demo on VQA-RAD train questions
    if confidence.is_file():
        values["answers.confidence_calibration"] = str(confidence)
    return values
