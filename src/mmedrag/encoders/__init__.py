"""Image and text encoders behind one protocol, and :func:`create_encoder` to build one from a spec."""

from __future__ import annotations

from mmedrag.encoders.base import Encoder, Fingerprint, fingerprint_of
from mmedrag.encoders.factory import ENCODERS, create_encoder, parse_encoder_spec

__all__ = ["ENCODERS", "Encoder", "Fingerprint", "create_encoder", "fingerprint_of", "parse_encoder_spec"]
