"""Build generators from a spec: ``extractive``, ``hf:<folder or hub id>``, ``openai:<model>@<base url>``, or a dict
``{"kind": ..., **params}``."""

from __future__ import annotations

from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.generation.base import Generator

GENERATORS = ("extractive", "hf", "openai")


def parse_generator_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, dict):
        parsed = dict(spec)
    elif spec == "extractive":
        parsed = {"kind": "extractive"}
    elif spec.startswith("hf:"):
        parsed = {"kind": "hf", "model": spec.removeprefix("hf:")}
    elif spec.startswith("openai:") and "@" in spec:
        model, _, base_url = spec.removeprefix("openai:").partition("@")
        parsed = {"kind": "openai", "model": model, "base_url": base_url}
    else:
        raise ConfigError(
            f"bad generator spec {spec!r}; use extractive, hf:<model folder or hub id>, or openai:<model>@<base url>"
        )
    if parsed.get("kind") not in GENERATORS:
        raise ConfigError(f"unknown generator kind {parsed.get('kind')!r}; use one of {', '.join(GENERATORS)}")
    return parsed


def create_generator(spec: str | dict[str, Any], **overrides: Any) -> Generator:
    params = parse_generator_spec(spec)
    params.update({key: value for key, value in overrides.items() if value is not None})
    kind = params.pop("kind")
    try:
        if kind == "hf":
            from mmedrag.generation.hf import HFGenerator

            return HFGenerator(**params)
        if kind == "openai":
            from mmedrag.generation.openai_compat import OpenAICompatGenerator

            return OpenAICompatGenerator(**params)
        from mmedrag.generation.extractive import ExtractiveGenerator

        return ExtractiveGenerator(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for generator {kind!r}: {exc}") from exc
