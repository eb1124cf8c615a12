"""Per-epoch training checkpoints: ``OUT/checkpoints/epoch-N/`` with the weights, optimizer, scheduler and RNG state
(``state.pt``) and what they were made from (``checkpoint.json``), so a re-run resumes where the last one stopped."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json

CHECKPOINTS = "checkpoints"
META, STATE = "checkpoint.json", "state.pt"
KEEP = 2  # a BiomedCLIP-size checkpoint with AdamW state is ~2.4 GB: keep the last two, not every epoch
_PREFIX = "epoch-"

# Settings that must match for a checkpoint to be continued: anything else changes what the run computes.
RESUME_KEYS = (
    "train_image",
    "train_text",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "seed",
    "data",
)


def _epoch_dirs(out_dir: Path) -> list[tuple[int, Path]]:
    root = out_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        suffix = child.name.removeprefix(_PREFIX)
        if child.name.startswith(_PREFIX) and suffix.isdigit() and (child / META).is_file():
            found.append((int(suffix), child))
    return sorted(found)


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    found = _epoch_dirs(out_dir)
    return found[-1][1] if found else None


def clear_checkpoints(out_dir: Path) -> None:
    """Remove this trainer's checkpoint folders (for ``resume=False``); other files are left alone."""
    for _, folder in _epoch_dirs(out_dir):
        shutil.rmtree(folder)


def save_checkpoint(out_dir: Path, epoch: int, meta: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write ``epoch-N`` atomically (a temporary folder renamed into place) and prune all but the last :data:`KEEP`."""
    torch = require("torch", "torch")
    root = out_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{epoch}"
    tmp = root / f".{_PREFIX}{epoch}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    torch.save(state, tmp / STATE)
    atomic_write_json(tmp / META, {**meta, "epoch": epoch})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in _epoch_dirs(out_dir)[:-KEEP]:
        shutil.rmtree(old)
    return final


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder}: unreadable checkpoint ({exc}); delete it or pass --no-resume") from exc
    return meta


def check_resumable(folder: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse a checkpoint of another architecture or base, or one made with other settings, naming both sides."""
    if saved.get("signature") != current["signature"] or saved.get("base") != current["base"]:
        raise ConfigError(
            f"{folder}: checkpoint of {saved.get('architecture')} (base {saved.get('base')}), but this run trains "
            f"{current['architecture']} (base {current['base']}); use another output folder or --no-resume"
        )
    changed = [key for key in RESUME_KEYS if saved.get(key) != current.get(key)]
    if changed:
        details = ", ".join(f"{key} {saved.get(key)!r} -> {current.get(key)!r}" for key in changed)
        raise ConfigError(
            f"{folder}: checkpoint made with other settings ({details}); rerun with the same ones or --no-resume"
        )


def load_state(folder: Path) -> dict[str, Any]:
    torch = require("torch", "torch")
    try:
        state: dict[str, Any] = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"{folder}: checkpoint state does not load ({exc}); delete it or pass --no-resume") from exc
    return state
