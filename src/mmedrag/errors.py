"""Exceptions raised by mmedrag.

Every error carries a one-line message that names the item at fault and says what to do. Subclasses exist only where
a caller catches them specifically.
"""

from __future__ import annotations


class MmedragError(Exception):
    """Base class of every error mmedrag raises on purpose."""


class ConfigError(MmedragError):
    """A configuration value, CLI flag or spec string is invalid."""


class MissingExtraError(MmedragError, ImportError):
    """An optional dependency is not installed; the message carries the ``pip install`` hint."""


class DataError(MmedragError):
    """Input data (a manifest line, an image, a dataset folder) is missing or malformed."""


class ImageError(DataError):
    """An image cannot be read or decoded."""


class IndexFolderError(MmedragError):
    """An index folder is missing, corrupt, or was built by another encoder."""


class EncoderMismatchError(IndexFolderError):
    """A query was encoded by a different encoder than the one that built the index."""


class GenerationError(MmedragError):
    """A generator backend failed (model load, server error after retries, timeout)."""
