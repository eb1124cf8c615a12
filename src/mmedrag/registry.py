"""One small registry per role (reader, encoder, store, generator, selector, router, training tower).

Modelled on timm's ``register_model`` / ``create_model``: a backend registers a factory under a name, callers create
it from a spec, and ``names()`` lists what is there. Every role speaks one spec syntax:

* a string ``kind`` or ``kind:argument`` (the argument fills the entry's main parameter, e.g. ``faiss:HNSW32``,
  ``hash:64``, ``hf:/models/medgemma``), or
* a mapping ``{"kind": ..., **params}`` (what YAML configs hold).

``kind`` may also be a dotted path ``package.module:Factory`` for code outside mmedrag (txtai's resolver idea).
Entries registered with :meth:`Registry.add` name their factory by import path, so listing kinds or parsing a spec
imports no backend (and no torch); the module is imported when the backend is created.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mmedrag.errors import ConfigError, MissingExtraError

T = TypeVar("T")
Spec = str | Mapping[str, Any]
ArgumentParser = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    """One registered kind: where its factory lives, how a ``kind:argument`` string maps to parameters."""

    name: str
    target: str | Callable[..., Any]
    argument: str | ArgumentParser | None = None
    help: str = ""

    def load(self) -> Any:
        """The registered object (usually a factory), imported on first use when registered by path."""
        if isinstance(self.target, str):
            return _import_path(self.target)
        return self.target

    def parse_argument(self, argument: str) -> dict[str, Any]:
        if self.argument is None:
            raise ConfigError(f"{self.name!r} takes no argument after ':', got {argument!r}")
        if isinstance(self.argument, str):
            return {self.argument: argument}
        return self.argument(argument)


class Registry(Generic[T]):
    """Named factories for one role.

    Example:
        >>> STORES = Registry("store")
        >>> STORES.add("exact", "mmedrag.stores.exact:ExactStore", help="numpy brute force")
        >>> STORES.parse("exact")
        {'kind': 'exact'}
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, dict[str, Any]] = {}

    def add(
        self,
        name: str,
        target: str | Callable[..., T] | Any,
        argument: str | ArgumentParser | None = None,
        help: str = "",
    ) -> None:
        """Register ``target`` (a callable or a ``module:attr`` path) under ``name``."""
        if name in self._entries or name in self._aliases:
            raise ConfigError(f"{self.role} kind {name!r} is registered twice")
        self._entries[name] = Entry(name, target, argument, help)

    def register(
        self, name: str, argument: str | ArgumentParser | None = None, help: str = ""
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator form of :meth:`add`, for backends defined outside the package."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, argument, help or _summary(factory))
            return factory

        return decorate

    def alias(self, name: str, spec: Mapping[str, Any]) -> None:
        """A short name for a full spec (``biomedclip`` -> the open_clip BiomedCLIP hub id)."""
        self._aliases[name] = dict(spec)

    def names(self) -> list[str]:
        """Registered kinds, in registration order (readers rely on it: it is their detection order)."""
        return list(self._entries)

    def describe(self) -> dict[str, str]:
        """Kind -> one-line help, aliases included (what ``mmedrag env`` prints)."""
        rows = {name: entry.help for name, entry in self._entries.items()}
        rows.update({name: f"alias of {spec}" for name, spec in self._aliases.items()})
        return rows

    def entry(self, kind: str) -> Entry:
        if kind in self._entries:
            return self._entries[kind]
        if ":" in kind or "." in kind:
            return Entry(kind, kind)  # a dotted path to out-of-tree code
        raise ConfigError(f"unknown {self.role} {kind!r}; use one of {', '.join(self.names())} (or module:Factory)")

    def parse(self, spec: Spec) -> dict[str, Any]:
        """Normalise ``spec`` to ``{"kind": ..., **params}`` (params with value None dropped)."""
        if isinstance(spec, Mapping):
            parsed = dict(spec)
            kind = parsed.get("kind")
            if not isinstance(kind, str) or not kind:
                raise ConfigError(f"a {self.role} spec needs a 'kind', got {dict(spec)}")
        elif isinstance(spec, str) and spec.strip():
            text = spec.strip()
            if text in self._aliases:
                parsed = dict(self._aliases[text])
            else:
                kind, sep, argument = text.partition(":")
                if kind not in self._entries and (":" in argument or "." in kind):
                    parsed = {"kind": text}  # package.module:Factory
                else:
                    parsed = {"kind": kind, **(self.entry(kind).parse_argument(argument) if sep else {})}
        else:
            raise ConfigError(f"a {self.role} spec must be KIND, KIND:ARGUMENT or a mapping, got {spec!r}")
        self.entry(parsed["kind"])
        return {key: value for key, value in parsed.items() if value is not None}

    def get(self, kind: str) -> Any:
        """The object registered as ``kind`` (a factory, a class, or a reader description)."""
        return self.entry(kind).load()

    def resolve(self, spec: Spec, **overrides: Any) -> tuple[Callable[..., T], dict[str, Any]]:
        """The factory for ``spec`` and its parameters (``overrides`` that are not None win over the spec)."""
        params = self.parse(spec)
        factory = self.get(params.pop("kind"))
        if not callable(factory):
            raise ConfigError(f"{self.role} {spec!r} does not name a factory")
        params.update({key: value for key, value in overrides.items() if value is not None})
        return factory, params

    def create(self, spec: Spec, *args: Any, **overrides: Any) -> T:
        """Build the backend ``spec`` names; positional ``args`` go first (e.g. a store's dimension)."""
        factory, params = self.resolve(spec, **overrides)
        try:
            return factory(*args, **params)
        except TypeError as exc:
            kind = self.parse(spec)["kind"]
            raise ConfigError(f"bad parameters for {self.role} {kind!r}: {exc}") from exc


def _summary(factory: Callable[..., Any]) -> str:
    lines = (factory.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""


def _import_path(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        target = importlib.import_module(module_name)
        for name in attribute.split("."):
            target = getattr(target, name)
    except (ImportError, AttributeError, ValueError) as exc:
        if isinstance(exc, MissingExtraError):
            raise
        raise ConfigError(f"cannot import {path!r} ({exc}); give a package.module:Factory path") from exc
    return target


def int_argument(name: str) -> ArgumentParser:
    """A ``kind:N`` argument that must be a positive integer (``hash:64``)."""

    def parse(argument: str) -> dict[str, Any]:
        try:
            value = int(argument)
        except ValueError:
            value = 0
        if value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {argument!r}")
        return {name: value}

    return parse
