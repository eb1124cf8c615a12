"""Which domain a query goes to: the router protocol, the decision type and the written routing order.

MMed-RAG routes each query image to its domain's retriever (method.md §2.1, §11 "Router: ... classifier with OOD
rejection"). This module decides; it does not build routers (see ``zero_shot`` and ``trained``) or retrieve.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from mmedrag.backends import ROUTERS
from mmedrag.domains import DOMAINS, OUT_OF_SCOPE, check_domain
from mmedrag.errors import ConfigError

ROUTER_CLASSES: tuple[str, ...] = (*DOMAINS, OUT_OF_SCOPE)
ROUTER_FILE = "router.json"
ROUTER_WEIGHTS = "router.safetensors"

RouteSource = Literal["query", "router", "default", "out_of_scope"]


@dataclass(frozen=True)
class RouteDecision:
    """Where a query goes and why.

    ``domain`` is None exactly when ``source == "out_of_scope"``: the router abstained and the query must not be
    answered as if it were a medical image of any domain. ``probability`` is the router's calibrated probability of
    its top class (None when no router was asked); ``probabilities`` holds every class, out_of_scope included.
    ``scope`` is the knowledge-base in-scope check's verdict (``mmedrag.retrieval.scope``; None: not run).
    """

    domain: str | None
    probability: float | None
    probabilities: dict[str, float] = field(default_factory=dict)
    source: RouteSource = "router"
    scope: dict[str, Any] | None = None

    @property
    def out_of_scope(self) -> bool:
        return self.domain is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "probability": None if self.probability is None else round(self.probability, 6),
            "probabilities": {name: round(value, 6) for name, value in self.probabilities.items()},
            "source": self.source,
            **({"scope": self.scope} if self.scope is not None else {}),
        }

    def with_scope(self, verdict: dict[str, Any], out_of_scope: bool) -> RouteDecision:
        """This decision with the in-scope check's verdict; out of scope overrides any domain (never answered),
        keeping the router's probabilities for the trace."""
        if out_of_scope:
            return replace(self, domain=None, source="out_of_scope", scope=verdict)
        return replace(self, scope=verdict)


@runtime_checkable
class DomainRouter(Protocol):
    """Maps images to calibrated probabilities over ``classes`` (domains, optionally plus ``out_of_scope``).

    ``threshold`` is the least top-class probability the router answers with; below it, it abstains.
    ``spec()`` is JSON that :func:`load_router` rebuilds it from; ``save(path)`` writes a folder it loads from.
    """

    classes: tuple[str, ...]
    threshold: float

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def spec(self) -> dict[str, Any]: ...

    def save(self, path: str | Path) -> Path: ...


def check_router_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Validate class names: known domains or ``out_of_scope``, unique, at least two of them."""
    names = tuple(str(name).strip().lower() for name in classes)
    unknown = [name for name in names if name not in ROUTER_CLASSES]
    if unknown:
        raise ConfigError(f"unknown router class(es) {unknown}; use domains {', '.join(DOMAINS)} or {OUT_OF_SCOPE}")
    if len(set(names)) != len(names):
        raise ConfigError(f"router classes repeat a name: {list(names)}")
    if len(names) < 2:
        raise ConfigError(f"a router needs at least two classes, got {list(names)}")
    return names


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"router threshold must be in [0, 1], got {threshold}")
    return float(threshold)


def decide(probabilities: np.ndarray, classes: Sequence[str], threshold: float) -> RouteDecision:
    """Turn one row of router probabilities into a decision: the top class, or out of scope.

    Abstention is max-softmax rejection (Hendrycks & Gimpel 2017, "A baseline for detecting misclassified and
    out-of-distribution examples"), applied to temperature-scaled probabilities so the threshold means what it says.
    """
    row = np.asarray(probabilities, dtype=np.float64)
    table = {name: float(value) for name, value in zip(classes, row, strict=True)}
    top = int(row.argmax())
    probability = float(row[top])
    if classes[top] == OUT_OF_SCOPE or probability < threshold:
        return RouteDecision(None, probability, table, "out_of_scope")
    return RouteDecision(classes[top], probability, table, "router")


def route(
    query_domain: str | None,
    image: Image.Image | None,
    router: DomainRouter | None,
    default: str | None,
) -> RouteDecision:
    """Decide the domain of one query, in this order (the first that applies wins):

    1. an explicit domain on the query (validated: an unknown name raises, it is never silently replaced);
    2. the router, when there is a router and an image: its top class, or out of scope when the top class is
       ``out_of_scope`` or its probability is below the router's threshold. Out of scope is final: the default is
       NOT used then, because answering a chart as the default domain is exactly what abstention prevents;
    3. the configured default domain (no router, or a text-only query).

    Raises:
        ConfigError: an unknown domain name, or none of the three applies (no query domain, no router or no image,
            and no default).
    """
    return route_batch([query_domain], [image], router, default)[0]


def route_batch(
    query_domains: Sequence[str | None],
    images: Sequence[Image.Image | None],
    router: DomainRouter | None,
    default: str | None,
) -> list[RouteDecision]:
    """:func:`route` for many queries with a single ``predict_proba`` call over the images that need the router."""
    if len(query_domains) != len(images):
        raise ConfigError(f"{len(query_domains)} query domains but {len(images)} images")
    fallback = check_domain(default) if default is not None else None
    decisions: list[RouteDecision | None] = [None] * len(images)
    pending: list[int] = []
    for row, (domain, image) in enumerate(zip(query_domains, images, strict=True)):
        if domain is not None:
            decisions[row] = RouteDecision(check_domain(domain), None, {}, "query")
        elif router is not None and image is not None:
            pending.append(row)
        elif fallback is not None:
            decisions[row] = RouteDecision(fallback, None, {}, "default")
        else:
            raise ConfigError(
                "cannot choose a domain: give the query a domain, configure a router (and send an image), "
                f"or set a default domain ({', '.join(DOMAINS)})"
            )
    if pending and router is not None:
        batch = [images[row] for row in pending]
        probabilities = np.asarray(router.predict_proba([image for image in batch if image is not None]))
        for row, values in zip(pending, probabilities, strict=True):
            decisions[row] = decide(values, router.classes, router.threshold)
    return [decision for decision in decisions if decision is not None]


def read_router_file(path: str | Path) -> dict[str, Any]:
    """The parsed ``router.json`` of a router folder; ConfigError when the folder is not a router."""
    folder = Path(path).expanduser()
    config_file = folder / ROUTER_FILE
    if not config_file.is_file():
        raise ConfigError(f"{folder}: not a router folder (no {ROUTER_FILE}); train one with `mmedrag train-router`")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_file}: unreadable router config ({exc}); retrain the router") from exc
    if not isinstance(data, dict) or "kind" not in data:
        raise ConfigError(f"{config_file}: router config has no 'kind'; retrain the router")
    return data


def load_router(path_or_spec: str | Path | dict[str, Any], **overrides: Any) -> DomainRouter:
    """Build a router from a folder (``router.json`` inside) or a spec of :data:`mmedrag.backends.ROUTERS`.

    Args:
        path_or_spec: a router folder; ``zero_shot:biomedclip`` (the encoder's text tower against default prompts),
            ``trained:DIR``, or the dict forms ``{"kind": "zero_shot", "encoder": ...}``, ``{"kind": "trained",
            "path": ...}``.
        overrides: keyword arguments for the router (e.g. ``threshold``, ``device``) that win over the saved ones.
    """
    spec: str | dict[str, Any]
    if isinstance(path_or_spec, Path) or (isinstance(path_or_spec, str) and Path(path_or_spec).expanduser().is_dir()):
        saved = read_router_file(path_or_spec)
        spec = {"kind": saved["kind"], "path": str(path_or_spec)} if saved["kind"] == "trained" else saved
    else:
        spec = path_or_spec
    router: DomainRouter = ROUTERS.create(spec, **overrides)
    return router
