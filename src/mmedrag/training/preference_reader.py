"""Read and validate a preference JSONL (written by ``mmedrag prefs``) into TRL's conversational vision format, with a
``rejected_images`` column for pairs whose rejected side sees another (noise) image (method.md §5.1.2, §5.1.4).
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import DataError, ImageError
from mmedrag.io.images import is_dicom, load_image, pixel_sha256

PAIR_TYPES = ("cross_modality", "retrieval_helps", "retrieval_hurts", "stage1")
ROLES = ("system", "user", "assistant")

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class PreferencePair:
    """One validated pair; messages are normalised to ``{"role", "content": [{"type", "text"?}]}`` and image paths
    are absolute. ``rejected_images`` is None when the rejected side sees ``images`` too."""

    id: str
    prompt: Messages
    chosen: Messages
    rejected: Messages
    images: tuple[str, ...]
    rejected_images: tuple[str, ...] | None
    pair_type: str | None = None
    question_id: str | None = None
    domain: str | None = None
    line: int = 0

    @property
    def group(self) -> str:
        """Pairs of one question stay on one side of a held-out split (a question yields up to four pairs)."""
        return self.question_id or self.id

    @property
    def rejected_paths(self) -> tuple[str, ...]:
        return self.rejected_images if self.rejected_images is not None else self.images


@dataclass
class PreferenceSet:
    """The pairs of one file, what was dropped, and a digest of the file and every image it names."""

    path: str
    pairs: list[PreferencePair]
    dropped_identical: list[str] = field(default_factory=list)
    digest: str = ""

    def counts(self) -> dict[str, int]:
        """Pairs per ``pair_type`` (``"unknown"`` when a line had none)."""
        out: dict[str, int] = {}
        for pair in self.pairs:
            key = pair.pair_type or "unknown"
            out[key] = out.get(key, 0) + 1
        return out

    def subset(self, pairs: Sequence[PreferencePair], tag: str) -> PreferenceSet:
        """Some of these pairs (e.g. one side of a held-out split), with a digest that names which ones."""
        digest = hashlib.sha256(f"{self.digest}\0{tag}\0".encode() + "\0".join(p.id for p in pairs).encode())
        return PreferenceSet(self.path, list(pairs), list(self.dropped_identical), digest.hexdigest()[:16])


def _where(path: Path, line: int, pair_id: str | None = None) -> str:
    return f"{path}:{line}" + (f" (pair {pair_id})" if pair_id else "")


def _messages(value: Any, name: str, where: str, roles: Sequence[str]) -> Messages:
    """Normalise a message list; string contents become one text part (TRL accepts both, Arrow needs one shape)."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: field {name!r} must be a non-empty list of messages")
    out: Messages = []
    for index, message in enumerate(value):
        at = f"{where}: {name}[{index}]"
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise DataError(f"{at} must be a message with role one of {', '.join(roles)}")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise DataError(f"{at}.content must be a string or a list of parts")
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image":
                # Only the placeholder: TRL fills placeholders that have no "image" key (trl.data_utils).
                parts.append({"type": "image"})
            else:
                raise DataError(f"{at}.content has a part that is neither {{type: text, text}} nor {{type: image}}")
        out.append({"role": message["role"], "content": parts})
    return out


def _text_of(messages: Messages) -> str:
    return "".join(p.get("text") or "" for m in messages for p in m["content"])


def _image_list(value: Any, name: str, where: str, root: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise DataError(f"{where}: field {name!r} must be a non-empty list of image paths")
    return tuple(str(p if p.is_absolute() else (root / p).resolve()) for p in (Path(v).expanduser() for v in value))


def _optional_str(record: dict[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string")
    return value or None


def parse_pair(record: Any, path: Path, line: int) -> PreferencePair:
    """Validate one decoded JSONL line (no file access).

    Raises:
        DataError: naming the file, the line and the field at fault.
    """
    where = _where(path, line)
    if not isinstance(record, dict):
        raise DataError(f"{where}: a pair must be a JSON object")
    pair_id = _optional_str(record, "id", where) or f"{path.name}:{line}"  # the reference left some ids empty (§5.1.2)
    where = _where(path, line, pair_id)
    for key in ("prompt", "chosen", "rejected", "images"):
        if key not in record:
            raise DataError(f"{where}: missing field {key!r}")
    pair_type = _optional_str(record, "pair_type", where)
    if pair_type is not None and pair_type not in PAIR_TYPES:
        raise DataError(f"{where}: pair_type {pair_type!r} is not one of {', '.join(PAIR_TYPES)}")
    prompt = _messages(record["prompt"], "prompt", where, ROLES)
    chosen = _messages(record["chosen"], "chosen", where, ("assistant",))
    rejected = _messages(record["rejected"], "rejected", where, ("assistant",))
    for name, messages in (("chosen", chosen), ("rejected", rejected)):
        if not _text_of(messages).strip():
            raise DataError(f"{where}: field {name!r} has no text")
    images = _image_list(record["images"], "images", where, path.parent)
    raw_rejected = record.get("rejected_images")
    rejected_images = None
    if raw_rejected is not None:
        rejected_images = _image_list(raw_rejected, "rejected_images", where, path.parent)
        if len(rejected_images) != len(images):
            raise DataError(
                f"{where}: rejected_images has {len(rejected_images)} path(s) but images has {len(images)}; "
                "the rejected side needs one image per placeholder, like the chosen side"
            )
    placeholders = sum(p["type"] == "image" for m in prompt for p in m["content"])
    if placeholders != len(images):
        raise DataError(
            f"{where}: the prompt has {placeholders} image placeholder(s) ({{type: image}}) but images has "
            f"{len(images)} path(s); they must match"
        )
    return PreferencePair(
        id=pair_id,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        images=images,
        rejected_images=rejected_images,
        pair_type=pair_type,
        question_id=_optional_str(record, "question_id", where),
        domain=_optional_str(record, "domain", where),
        line=line,
    )


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_images(pairs: Sequence[PreferencePair], path: Path) -> dict[str, str]:
    """Decode every image once (a bad file fails here, not mid-training); returns path -> file SHA-256."""
    hashes: dict[str, str] = {}
    for pair in pairs:
        for name, paths in (("images", pair.images), ("rejected_images", pair.rejected_images or ())):
            for index, image_path in enumerate(paths):
                if image_path in hashes:
                    continue
                try:
                    load_image(image_path)
                except ImageError as exc:
                    raise DataError(
                        f"{_where(path, pair.line, pair.id)}: {name}[{index}] cannot be used: {exc}"
                    ) from exc
                hashes[image_path] = _file_sha256(image_path)
    return hashes


def _identical(pair: PreferencePair, hashes: dict[str, str]) -> bool:
    """Same response text and the same picture on both sides: DPO's gradient for such a pair is exactly zero."""
    if pair.chosen != pair.rejected:
        return False
    if pair.rejected_images is None or pair.rejected_images == pair.images:
        return True
    if all(hashes[a] == hashes[b] for a, b in zip(pair.images, pair.rejected_images, strict=True)):
        return True
    return all(
        pixel_sha256(load_image(a)) == pixel_sha256(load_image(b))
        for a, b in zip(pair.images, pair.rejected_images, strict=True)
    )


def read_preferences(path: str | Path, *, check_images: bool = True) -> PreferenceSet:
    """Read, validate and de-duplicate a preference JSONL.

    Args:
        path: the JSONL file; relative image paths are resolved against its folder.
        check_images: decode every image once (off only for tests of the text checks).

    Returns:
        The kept pairs, the ids dropped as identical, and a digest of the file and its images.

    Raises:
        DataError: unreadable file, a malformed line (file, line and field named), duplicate ids, a missing or
            undecodable image (pair and path named), or no pair left after dropping identical ones.

    Warns:
        UserWarning: pairs whose chosen and rejected sides have the same text and the same image were dropped.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the preference file ({exc.strerror or exc})") from exc
    pairs: list[PreferencePair] = []
    seen: dict[str, int] = {}
    for line, text in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        pair = parse_pair(record, path, line)
        if pair.id in seen:
            raise DataError(f"{_where(path, line, pair.id)}: duplicate id (first on line {seen[pair.id]})")
        seen[pair.id] = line
        pairs.append(pair)
    if not pairs:
        raise DataError(f"{path}: no preference pairs in the file")
    hashes = _check_images(pairs, path) if check_images else {}
    if check_images:
        dropped = [p.id for p in pairs if _identical(p, hashes)]
    else:
        dropped = [p.id for p in pairs if p.chosen == p.rejected and p.rejected_images in (None, p.images)]
    if dropped:
        warnings.warn(
            f"{path}: dropped {len(dropped)} of {len(pairs)} pair(s) whose chosen and rejected sides have the same "
            f"text and the same image (their DPO gradient is zero), e.g. {', '.join(dropped[:3])}",
            UserWarning,
            stacklevel=2,
        )
    kept = [p for p in pairs if p.id not in set(dropped)]
    if not kept:
        raise DataError(f"{path}: no usable pair left after dropping {len(dropped)} identical pair(s)")
    digest = hashlib.sha256(raw)
    for image_path in sorted(hashes):
        digest.update(f"\0{image_path}\0{hashes[image_path]}".encode())
    return PreferenceSet(path=str(path), pairs=kept, dropped_identical=dropped, digest=digest.hexdigest()[:16])


def split_heldout(
    pairs: Sequence[PreferencePair], fraction: float, seed: int = 0
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Hold out about ``fraction`` of the pairs, whole questions at a time (``question_id``), seeded.

    Raises:
        DataError: ``fraction`` outside (0, 1), or fewer than two questions to split.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"held-out fraction must be between 0 and 1, got {fraction}")
    groups = sorted({p.group for p in pairs})
    if len(groups) < 2:
        raise DataError(f"cannot hold out a fraction of {len(groups)} question(s); pass --heldout FILE instead")
    random.Random(seed).shuffle(groups)
    count = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    held = set(groups[:count])
    return [p for p in pairs if p.group not in held], [p for p in pairs if p.group in held]


def _image_value(path: str) -> Any:
    # Stored as a path and decoded on access (cheap in memory); DICOM is decoded here since datasets cannot read it.
    return load_image(path) if is_dicom(path) else path


def to_dataset(pairs: Iterable[PreferencePair]) -> Any:
    """A ``datasets.Dataset`` in TRL's conversational vision format plus ``rejected_images``.

    Columns: ``id``, ``pair_type``, ``question_id``, ``domain``, ``prompt``, ``chosen``, ``rejected``, ``images`` and
    ``rejected_images`` (lists of RGB PIL images on access; ``rejected_images`` repeats ``images`` where the file had
    null, so every row has both).
    """
    datasets = require("datasets", "train")
    rows = [
        {
            "id": p.id,
            "pair_type": p.pair_type,
            "question_id": p.question_id,
            "domain": p.domain,
            "prompt": p.prompt,
            "chosen": p.chosen,
            "rejected": p.rejected,
            "images": [_image_value(i) for i in p.images],
            "rejected_images": [_image_value(i) for i in p.rejected_paths],
        }
        for p in pairs
    ]
    if not rows:
        raise DataError("no preference pairs to build a dataset from")
    part = {"type": datasets.Value("string"), "text": datasets.Value("string")}
    messages = datasets.List({"role": datasets.Value("string"), "content": datasets.List(part)})
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "pair_type": datasets.Value("string"),
            "question_id": datasets.Value("string"),
            "domain": datasets.Value("string"),
            "prompt": messages,
            "chosen": messages,
            "rejected": messages,
            "images": datasets.List(datasets.Image(mode="RGB")),
            "rejected_images": datasets.List(datasets.Image(mode="RGB")),
        }
    )
    return datasets.Dataset.from_list(rows, features=features)


def load_preferences(path: str | Path) -> Any:
    """``read_preferences`` then ``to_dataset``: the file as a TRL-ready ``datasets.Dataset``."""
    return to_dataset(read_preferences(path).pairs)
