"""Build encoders from a spec: a dict ``{"kind": ..., **params}`` or a string ``kind:argument``.

String forms: ``hash:64``, ``open_clip:hf-hub:microsoft/BiomedCLIP-...``, ``open_clip:/path/to/folder``,
``hf_clip:/path/or/hub-id``, ``sentence:minilm``, ``tower:/path/to/tower``. Bare ``biomedclip`` and ``minilm`` work too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmedrag.encoders.base import Encoder
from mmedrag.errors import ConfigError


def _hash(**params: Any) -> Encoder:
    from mmedrag.encoders.hashing import HashEncoder

    return HashEncoder(**params)


def _open_clip(**params: Any) -> Encoder:
    from mmedrag.encoders.open_clip import OpenClipEncoder

    return OpenClipEncoder(**params)


def _hf_clip(**params: Any) -> Encoder:
    from mmedrag.encoders.hf_clip import HFClipEncoder

    return HFClipEncoder(**params)


def _sentence(**params: Any) -> Encoder:
    from mmedrag.encoders.sentence import SentenceEncoder

    return SentenceEncoder(**params)


def _tower(**params: Any) -> Encoder:
    from mmedrag.encoders.tower import TowerEncoder

    return TowerEncoder(**params)


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "hash": _hash,
    "open_clip": _open_clip,
    "hf_clip": _hf_clip,
    "sentence": _sentence,
    "tower": _tower,
}
# The one positional argument of each string form.
_MAIN_ARG = {"hash": "dim", "open_clip": "model", "hf_clip": "model", "sentence": "model", "tower": "path"}
_SHORTCUTS = {
    "biomedclip": {"kind": "open_clip", "model": "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"},
    "minilm": {"kind": "sentence", "model": "minilm"},
}


def parse_encoder_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """Normalise a spec string or dict to ``{"kind": ..., **params}``; raise naming the known kinds."""
    if isinstance(spec, dict):
        parsed = dict(spec)
    elif spec in _SHORTCUTS:
        parsed = dict(_SHORTCUTS[spec])
    else:
        kind, _, argument = spec.partition(":")
        if kind not in ENCODERS or not argument:
            raise ConfigError(
                f"bad encoder spec {spec!r}; use KIND:ARG with KIND one of {', '.join(ENCODERS)} "
                f"(e.g. open_clip:hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224, sentence:minilm)"
            )
        parsed = {"kind": kind, _MAIN_ARG[kind]: int(argument) if kind == "hash" else argument}
    if parsed.get("kind") not in ENCODERS:
        raise ConfigError(f"unknown encoder kind {parsed.get('kind')!r}; use one of {', '.join(ENCODERS)}")
    return {key: value for key, value in parsed.items() if value is not None}


def create_encoder(spec: str | dict[str, Any], **overrides: Any) -> Encoder:
    """Build the encoder described by ``spec``; ``overrides`` (device, batch_size) win over the spec."""
    params = parse_encoder_spec(spec)
    kind = params.pop("kind")
    params.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return ENCODERS[kind](**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for encoder {kind!r}: {exc}") from exc
