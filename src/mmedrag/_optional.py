"""Import optional dependencies late and fail early with the ``pip install`` hint that fixes it."""

from __future__ import annotations

import importlib
from types import ModuleType

from mmedrag.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it.

    Example:
        >>> faiss = require("faiss", "faiss")  # doctest: +SKIP
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # also covers sys.modules[name] = None, which tests use to hide a package
        raise MissingExtraError(
            f"{module!r} is not installed; install it with: pip install 'mmedrag[{extra}]' ({exc})"
        ) from exc


def available(module: str) -> bool:
    """True when ``module`` imports (used to pick defaults, never to hide errors)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
