"""Create and load vector stores from their spec (``{"kind": "faiss", "factory": "HNSW32"}``) or a string."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.stores.base import VectorStore

STORES = ("exact", "faiss")


def parse_store_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``exact``, ``faiss`` (exact inner product), ``faiss:HNSW32``, ``faiss:IVF1024,Flat|nprobe=32`` or a dict."""
    if isinstance(spec, dict):
        parsed = {key: value for key, value in spec.items() if key != "dim"}
    else:
        kind, _, rest = spec.partition(":")
        factory, _, params = rest.partition("|")
        parsed = {"kind": kind}
        if kind == "faiss":
            parsed.update({"factory": factory or "Flat", "search_params": params})
        elif rest:
            raise ConfigError(f"store {kind!r} takes no arguments, got {spec!r}")
    if parsed.get("kind") not in STORES:
        raise ConfigError(f"unknown store {parsed.get('kind')!r}; use one of {', '.join(STORES)}")
    return parsed


def create_store(spec: str | dict[str, Any], dim: int) -> VectorStore:
    params = parse_store_spec(spec)
    kind = params.pop("kind")
    if kind == "faiss":
        from mmedrag.stores.faiss_store import FaissStore

        return FaissStore(dim, **params)
    from mmedrag.stores.exact import ExactStore

    return ExactStore(dim)


def load_store(spec: str | dict[str, Any], folder: Path, dim: int) -> VectorStore:
    params = parse_store_spec(spec)
    kind = params.pop("kind")
    if kind == "faiss":
        from mmedrag.stores.faiss_store import FaissStore

        return FaissStore.load(folder, dim, **params)
    from mmedrag.stores.exact import ExactStore

    return ExactStore.load(folder, dim)


def default_store_spec() -> str:
    """FAISS exact inner product when faiss is installed, else the numpy store (same results, slower at scale)."""
    from mmedrag._optional import available

    return "faiss:Flat" if available("faiss") else "exact"
