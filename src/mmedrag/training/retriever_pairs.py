"""Image-text training pairs for retriever training, and the split that holds out whole cases.

Holding out by case (patient) matters: two MedPix images of one case share most of their text, so a random split by
image would leak the held-out text into training and inflate recall.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from mmedrag.errors import ConfigError
from mmedrag.types import RECORD_FIELDS, Record


@dataclass(frozen=True, slots=True)
class Pair:
    """One image and the text that describes it; ``group`` is the case/patient the pair belongs to."""

    image_path: str
    text: str
    group: str


def pairs_from_records(
    records: Iterable[Record],
    heldout_fraction: float = 0.15,
    seed: int = 0,
    group_by: str = "patient_id",
) -> tuple[list[Pair], list[Pair]]:
    """Split records into (train, held-out) pairs, one pair per image, holding out whole groups.

    Args:
        records: knowledge-base records; those without text or images are skipped.
        heldout_fraction: share of groups (not images) held out, in [0, 1).
        seed: seeds the shuffle of the groups.
        group_by: the record field that names a group (``patient_id``: a MedPix case); records where it is empty
            form a group of their own.

    Returns:
        The training pairs and the held-out pairs; no group has pairs in both.
    """
    if not 0 <= heldout_fraction < 1:
        raise ConfigError(f"heldout fraction must be in [0, 1), got {heldout_fraction}")
    if group_by not in RECORD_FIELDS:
        raise ConfigError(f"cannot group by {group_by!r}; use a record field such as patient_id or study_id")
    pairs = [
        Pair(str(path), record.text, str(getattr(record, group_by) or record.id))
        for record in records
        if record.text.strip()
        for path in record.image_paths
    ]
    groups = sorted({pair.group for pair in pairs})
    random.Random(seed).shuffle(groups)
    count = max(1, round(heldout_fraction * len(groups))) if heldout_fraction > 0 and len(groups) > 1 else 0
    held = set(groups[:count])
    return [p for p in pairs if p.group not in held], [p for p in pairs if p.group in held]
