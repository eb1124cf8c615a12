"""A generator wrapper that caches answers by prompt, so re-running an evaluation or trying many k does not
regenerate what was already generated.

The key is a hash of the generator's identity (its name and settings) and everything the model sees: the messages,
the task, the references and the decoded pixels of each image. Greedy decoding makes a cached answer exact.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmedrag.generation.base import Generator
from mmedrag.io.images import pixel_sha256
from mmedrag.types import Generation, Prompt


def prompt_key(prompt: Prompt, identity: str) -> str:
    digest = hashlib.sha256(identity.encode())
    digest.update(json.dumps(list(prompt.messages), sort_keys=True, default=str).encode())
    digest.update(f"\0{prompt.task}\0{prompt.question}\0{prompt.domain}".encode())
    for reference in prompt.references:
        # Whether a reference is the query's own report changes what its silence may answer.
        digest.update(f"\0{reference.record_id}\0{reference.own}\0{reference.text}".encode())
    for image in prompt.images:
        digest.update(pixel_sha256(image).encode())
    return digest.hexdigest()


class CachedGenerator:
    """Wraps any generator; hits come from an SQLite file, misses are generated in one batch and stored.

    Args:
        settings: whatever else changes the output (decoding settings, adapter), folded into the key.
    """

    def __init__(self, inner: Generator, path: str | Path, settings: dict[str, Any] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        # A generator may name what else changes its output (the extractive answerer: its rules version and policy).
        own = dict(getattr(inner, "identity_settings", None) or {})
        self.identity = json.dumps({"name": inner.name, **own, **(settings or {})}, sort_keys=True, default=str)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, generation TEXT NOT NULL)")
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        keys = [prompt_key(prompt, self.identity) for prompt in prompts]
        found = self._lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        self.hits += len(prompts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = self.inner.generate([prompts[i] for i in missing])
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?)",
                    [(keys[i], json.dumps(_to_json(g))) for i, g in zip(missing, fresh, strict=True)],
                )
            found.update({keys[i]: g for i, g in zip(missing, fresh, strict=True)})
        return [found[key] for key in keys]

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _lookup(self, keys: list[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 900):
                chunk = unique[start : start + 900]
                rows = self._db.execute(
                    f"SELECT key, generation FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk
                )
                found.update({key: Generation(**json.loads(data)) for key, data in rows})
        return found

    def close(self) -> None:
        self._db.close()


def _to_json(generation: Generation) -> dict[str, Any]:
    return {
        "text": generation.text,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "yes_probability": generation.yes_probability,
        "confidence": generation.confidence,
        "meta": dict(generation.meta),
    }
