"""Integrity of an index version: checksums and counts recorded at save, checked on load and by ``--verify``.

At save every file of a version gets its SHA-256 and size in ``index.json``, and ``index.json`` carries a digest of
its own content. On load the sizes, the counts, the id files' checksums and cheap vector invariants (finite values,
unit length of the vectors an L2-normalising encoder produced) are checked, and every checksum when the version is
small (:data:`LOAD_CHECKSUM_BYTES`); a larger version is checksummed in full on a background thread after load
(:class:`BackgroundCheck`), and the index refuses to search once damage is found. ``mmedrag index --verify`` and
every writer check all checksums before they go on. Every problem is one line naming the file.

A vector store takes part in the vector checks by offering ``sample_vectors(limit)`` (stored rows, for the finite
and unit-length checks) and, when its scores are exact inner products, ``lossless = True`` plus writable ``source``
and ``max_score`` attributes (its search then refuses scores that unit vectors cannot give). Stores without them
(a remote service, say) get the checksums and counts only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.errors import IndexFolderError

META = "index.json"
# Versions up to this size are checksummed in full on every load (SHA-256 runs at about 1-2 GB/s, so this costs
# at most about a tenth of a second); larger ones get sizes, id-file checksums and sampled vector checks.
LOAD_CHECKSUM_BYTES = 128 << 20
NORM_TOLERANCE = 1e-3  # float32 L2 normalisation is exact to ~1e-6; a damaged float is off by far more
SAMPLE_ROWS = 256
_ID_FILE = "ids.json"
_SAFE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def seal_files(version: Path) -> dict[str, dict[str, Any]]:
    """fsync every file of a freshly written version and return ``{relative path: {sha256, bytes}}``."""
    files: dict[str, dict[str, Any]] = {}
    for file in sorted(version.rglob("*")):
        if file.is_file() and file.name != META:
            with file.open("rb+") as handle:
                os.fsync(handle.fileno())
            files[file.relative_to(version).as_posix()] = {"sha256": file_digest(file), "bytes": file.stat().st_size}
    return files


def meta_digest(meta: dict[str, Any]) -> str:
    """Digest of the metadata without its own ``meta_sha256`` field (canonical JSON)."""
    body = {key: value for key, value in meta.items() if key != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def read_meta(version: Path) -> dict[str, Any]:
    """Parse and validate ``index.json``; a damaged or malformed file is an :class:`IndexFolderError` naming it."""
    path = version / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise IndexFolderError(
            f"{path}: index metadata unreadable ({reason}); restore it or rebuild the index"
        ) from exc
    problem = meta_problem(meta)
    if problem:
        raise IndexFolderError(f"{path}: index metadata malformed ({problem}); restore it or rebuild the index")
    return meta


def meta_problem(meta: Any) -> str | None:
    """What is wrong with a parsed ``index.json``, or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    if "meta_sha256" in meta and meta["meta_sha256"] != meta_digest(meta):
        return "checksum mismatch: the file changed after it was saved"
    counts = meta.get("counts", {})
    checks = (
        (_encoder_problem(meta.get("encoder")), None),
        (None, not isinstance(meta.get("store"), dict) or not isinstance(meta["store"].get("kind"), str)),
        (None, not isinstance(counts, dict) or not all(_count(v) for v in counts.values())),
        (None, not isinstance(meta.get("info", {}), dict) or not isinstance(meta.get("spaces", {}), dict)),
        (_files_problem(meta.get("files", {})), None),
    )
    messages = (
        None,
        "'store' must be an object with a string 'kind'",
        "'counts' must map names to non-negative integers",
        "'info' and 'spaces' must be objects",
        None,
    )
    for (problem, failed), message in zip(checks, messages, strict=True):
        if problem or failed:
            return problem or message
    return None


def _encoder_problem(encoder: Any) -> str | None:
    if not isinstance(encoder, dict) or not all(isinstance(encoder.get(k), str) for k in ("kind", "name")):
        return "'encoder' must be an object with string 'kind' and 'name'"
    if not _positive_int(encoder.get("dim")):
        return "'encoder.dim' must be a positive integer"
    if not isinstance(encoder.get("spec") or {}, dict):
        return "'encoder.spec' must be an object"
    for probe in ("text_probe", "image_probe"):
        value = encoder.get(probe)
        if value is not None and not (isinstance(value, list) and all(_number(x) for x in value)):
            return f"'encoder.{probe}' must be a list of numbers or null"
    return None


def _files_problem(files: Any) -> str | None:
    if not isinstance(files, dict):
        return "'files' must be an object"
    for name, entry in files.items():
        if not _SAFE_PATH.fullmatch(name):
            return f"'files' names {name!r}, not a plain path inside the version folder"
        if (
            not isinstance(entry, dict)
            or not _HEX64.fullmatch(str(entry.get("sha256")))
            or not _count(entry.get("bytes"))
        ):
            return f"'files.{name}' must have a 64-hex 'sha256' and a non-negative 'bytes'"
    return None


def file_problems(version: Path, files: dict[str, dict[str, Any]], full: bool) -> list[str]:
    """Missing, resized or (id files always, every file when ``full``) changed files of a version."""
    problems = []
    for name, entry in sorted(files.items()):
        path = version / name
        if not path.resolve().is_relative_to(version.resolve()):
            problems.append(f"{path}: resolves outside the version folder (a symbolic link)")
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(f"{path}: missing (index.json lists it)")
            continue
        size = path.stat().st_size
        if size != entry["bytes"]:
            problems.append(f"{path}: {size} bytes, {entry['bytes']} when saved (truncated or replaced)")
        elif (full or path.name == _ID_FILE) and file_digest(path) != entry["sha256"]:
            problems.append(f"{path}: checksum mismatch (the file was damaged or changed after it was saved)")
    return problems


class BackgroundCheck:
    """Every checksum of a version too large to checksum during load, computed on a daemon thread (streamed in
    1 MiB blocks, so memory stays flat); :attr:`problem` holds the first damage found, None while clean."""

    def __init__(self, version: Path, files: dict[str, dict[str, Any]]) -> None:
        self.problem: str | None = None
        self._thread = threading.Thread(target=self._run, args=(version, files), name="mmedrag-checksums", daemon=True)
        self._thread.start()

    def _run(self, version: Path, files: dict[str, dict[str, Any]]) -> None:
        try:
            problems = file_problems(version, files, full=True)
        except OSError as exc:
            problems = [f"{version}: unreadable ({exc})"]
        if problems and (version / META).exists():  # a superseded version removed meanwhile is no damage
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            self.problem = f"{problems[0]}{more}; restore the index folder or rebuild it"
            logging.getLogger("mmedrag.stores").error("index damaged: %s", self.problem)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the check to finish; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def total_bytes(files: dict[str, dict[str, Any]]) -> int:
    return sum(int(entry["bytes"]) for entry in files.values())


def _norms(vectors: np.ndarray) -> np.ndarray:
    # float32 sums over a few hundred dimensions are exact to ~1e-6, far inside the tolerance, and need no copy.
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.einsum("ij,ij->i", vectors, vectors))


def _off_unit(norms: np.ndarray) -> np.ndarray:
    return ~((np.abs(norms - 1.0) <= NORM_TOLERANCE) | (norms <= NORM_TOLERANCE))


def unit_norm(vectors: np.ndarray | None) -> bool:
    """True when every row is unit length (or all zero, as l2_normalize leaves empty inputs)."""
    if vectors is None or vectors.size == 0:
        return False
    return not _off_unit(_norms(vectors)).any()


def vector_problem(vectors: np.ndarray | None, expect_unit: bool) -> str | None:
    """Non-finite values, or rows that are not unit length when they were at save time."""
    if vectors is None or vectors.size == 0:
        return None
    norms = _norms(vectors)
    if not np.isfinite(norms).all() and not np.isfinite(vectors).all():
        return "holds NaN or infinite values"
    bad = _off_unit(norms)
    if expect_unit and bad.any():
        largest = float(np.nanmax(np.where(np.isfinite(norms), norms, np.inf)))
        return f"{int(bad.sum())} vector(s) are not unit length (largest norm {largest:.4g}); saved vectors were"
    return None


def check_scores(
    source: Path | None, hits: list[tuple[str, float]], max_score: float | None, query: np.ndarray
) -> None:
    """Refuse to serve a non-finite score, or one larger than unit vectors allow (possible only from damage).

    ``max_score`` is the bound for a unit query (None: no bound); it scales with the query's norm, since callers
    may search with vectors that are not unit length.
    """
    bound = None if max_score is None else max_score * float(np.linalg.norm(query)) + 1e-6
    for identifier, score in hits:
        if not np.isfinite(score) or (bound is not None and abs(score) > bound):
            raise IndexFolderError(
                f"{source or 'vector store'}: impossible score {score:.4g} for {identifier!r} (inner products of "
                "unit vectors lie in [-1, 1]); the vector files are damaged: run `mmedrag index --verify` and rebuild"
            )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
