"""Domain routing: decide which domain's retriever (and adapter) a query goes to, or that it is out of scope.

Order: an explicit domain on the query, then the router, then a configured default (see :func:`route`).
Importing this package does not import torch; the trained router imports it when it runs.
"""

from __future__ import annotations

from mmedrag.routing.base import (
    OUT_OF_SCOPE,
    ROUTER_CLASSES,
    DomainRouter,
    RouteDecision,
    decide,
    load_router,
    route,
    route_batch,
)
from mmedrag.routing.temperature import expected_calibration_error, fit_temperature
from mmedrag.routing.zero_shot import DEFAULT_PROMPTS, ZeroShotRouter

__all__ = [
    "DEFAULT_PROMPTS",
    "OUT_OF_SCOPE",
    "ROUTER_CLASSES",
    "DomainRouter",
    "RouteDecision",
    "ZeroShotRouter",
    "decide",
    "expected_calibration_error",
    "fit_temperature",
    "load_router",
    "route",
    "route_batch",
]
