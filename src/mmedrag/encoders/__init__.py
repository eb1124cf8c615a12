"""Image and text encoders behind one protocol; :func:`create_encoder` builds one from a spec.

The kinds (``hash``, ``open_clip``, ``hf_clip``, ``sentence``, ``tower``) are registered in
:data:`mmedrag.backends.ENCODERS`; ``biomedclip`` and ``minilm`` are aliases.
"""

from __future__ import annotations

from typing import Any

from mmedrag.backends import ENCODERS
from mmedrag.encoders.base import Encoder, fingerprint_of
from mmedrag.registry import Spec
from mmedrag.types import Fingerprint


def create_encoder(spec: Spec, **overrides: Any) -> Encoder:
    """Build the encoder ``spec`` names; ``overrides`` (device, batch_size) win over the spec.

    Example:
        >>> create_encoder("hash:64").dim
        64
    """
    encoder: Encoder = ENCODERS.create(spec, **overrides)
    return encoder


__all__ = ["ENCODERS", "Encoder", "Fingerprint", "create_encoder", "fingerprint_of"]
