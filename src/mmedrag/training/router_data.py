"""The labelled examples a domain router trains on: records (and question images) from domain-labelled sources."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmedrag.domains import DOMAINS
from mmedrag.errors import DataError
from mmedrag.io.readers import detect_format, read_source
from mmedrag.types import Record


def check_labelled(records: Sequence[Record], where: str = "the records") -> None:
    """Raise DataError naming how many records (and which ids) of ``where`` lack a domain label."""
    missing = [record.id for record in records if not record.domain]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(
            f"train-router needs records with a domain label: {len(missing)} of {len(records)} in {where} have none "
            f"({shown}); add a 'domain' field ({', '.join(DOMAINS)})"
        )


def read_labelled_records(
    sources: list[str], fmt: str = "auto", data_root: str | None = None
) -> tuple[list[Record], list[str]]:
    """Records (and question images) from each source; DataError naming the source whose items lack a domain.

    ``data_root`` confines the image paths of JSONL manifests (the other readers resolve their own).
    """
    records: list[Record] = []
    errors: list[str] = []
    seen: set[str] = set()
    for source in sources:
        manifest = (fmt if fmt != "auto" else detect_format(source)) == "manifest"
        dataset = read_source(source, fmt, **({"data_root": data_root} if data_root and manifest else {}))
        items = list(dataset.records)
        # QA datasets (VQA-RAD) carry images on questions: each distinct image becomes one labelled example.
        for question in dataset.questions:
            if question.image_path:
                items.append(
                    Record(
                        id=question.id,
                        image_paths=(question.image_path,),
                        domain=question.domain,
                        source=question.source,
                    )
                )
        check_labelled(items, where=source)
        for record in items:
            paths = tuple(path for path in record.image_paths if path not in seen)
            seen.update(paths)
            if paths:
                source_name = record.source or Path(source).stem
                records.append(Record(id=record.id, image_paths=paths, domain=record.domain, source=source_name))
        errors += [str(error) for error in dataset.errors]
    return records, errors
