"""Where a DPO run writes, all or nothing: the adapter is assembled in ``.OUT.staging/`` and moved into ``OUT`` only
when training succeeded; Trainer checkpoints go to ``OUT.checkpoints/``, tagged with what the run was made from, so
that a re-run continues an interrupted one (under any number of processes) and never another's."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json

RUN_INFO = "mmedrag_run.json"


def prepare_out(out: Path, marker: str) -> None:
    """Refuse to replace a folder that train-dpo did not write (one holding ``marker``)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).is_file())):
        raise ConfigError(f"output {out} exists and was not written by train-dpo; pass a new or empty folder")


def staging_dir(out: Path) -> Path:
    """One fixed name per output, so that what a killed run left there is cleared by the next one."""
    return out.with_name(f".{out.name}.staging")


def publish(staging: Path, out: Path) -> None:
    """Move the finished folder into place; an older adapter there is replaced only now."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def checkpoint_dir(out: Path) -> Path:
    """A sibling, not a child: the adapter folder appears only when training has finished."""
    return out.with_name(f"{out.name}.checkpoints")


def run_identity(base: str, data_digest: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must have been made from to be continued (JSON-shaped, as it is stored); where checkpoints
    go and whether to resume change nothing the run computes."""
    kept = {k: v for k, v in settings.items() if k not in {"resume", "save_steps"}}
    run: dict[str, Any] = json.loads(json.dumps({"base": base, "data": data_digest, "settings": kept}))
    return run


def resume_point(folder: Path, run: dict[str, Any], resume: bool) -> str | None:
    """The newest Trainer checkpoint of this very run, or None to start afresh. Read-only: every process asks."""
    if not resume or not (folder / RUN_INFO).is_file():
        return None
    saved = json.loads((folder / RUN_INFO).read_text(encoding="utf-8"))
    if saved != run:
        changed = sorted(key for key in set(saved) | set(run) if saved.get(key) != run.get(key))
        raise ConfigError(
            f"{folder} holds checkpoints of another run (different {', '.join(changed)}); pass --no-resume to "
            f"start over or another --out"
        )
    latest: str | None = require("transformers", "train").trainer_utils.get_last_checkpoint(str(folder))
    return latest


def start_run(staging: Path, checkpoints: Path | None, run: dict[str, Any], resume: bool) -> None:
    """Main process only: an empty staging folder, and the checkpoint folder (cleared unless resumed) tagged with
    this run."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if checkpoints is None:
        return
    if not resume and checkpoints.is_dir():
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    atomic_write_json(checkpoints / RUN_INFO, run)
