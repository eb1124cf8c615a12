"""Prometheus metrics, structured JSON logs and the JSONL audit log.

The audit log records who asked what kind of thing and what was cited, never the image and, by default, never the
question text (only its SHA-256), so it can be kept longer than the data it describes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedrag._optional import require


class Metrics:
    """The service's metrics in their own registry (several apps in one process do not collide)."""

    def __init__(self) -> None:
        prometheus = require("prometheus_client", "serve")
        self.registry = prometheus.CollectorRegistry()
        self.requests = prometheus.Counter(
            "mmedrag_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = prometheus.Histogram(
            "mmedrag_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.stages = prometheus.Histogram(
            "mmedrag_stage_seconds",
            "pipeline stage time per query (batch time shared over its queries)",
            ["stage"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.batch_size = prometheus.Histogram(
            "mmedrag_batch_size",
            "queries per pipeline call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.errors = prometheus.Counter("mmedrag_errors_total", "error responses", ["type"], registry=self.registry)
        self.queue_depth = prometheus.Gauge("mmedrag_queue_depth", "queries waiting", registry=self.registry)
        self.in_flight = prometheus.Gauge(
            "mmedrag_requests_in_flight", "HTTP requests being served", registry=self.registry
        )
        self.answers = prometheus.Counter(
            "mmedrag_answers_total", "answers by status", ["status"], registry=self.registry
        )
        self.reloads = prometheus.Counter("mmedrag_reloads_total", "index reloads", ["result"], registry=self.registry)
        self._prometheus = prometheus

    def observe_answer(self, timings_ms: Mapping[str, float], status: str) -> None:
        for stage, ms in timings_ms.items():
            if stage != "total":
                self.stages.labels(stage).observe(ms / 1000.0)
        self.answers.labels(status).inc()

    def render(self) -> tuple[bytes, str]:
        return self._prometheus.generate_latest(self.registry), self._prometheus.CONTENT_TYPE_LATEST


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and mmedrag: JSON lines on stderr."""
    formatter = {"()": f"{__name__}.JsonFormatter"}
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": level, "propagate": False}
            for name in ("mmedrag", "uvicorn", "uvicorn.error")
        },
    }


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()


def audit_entry(service: Any, question: str, domain: str | None, citations: list[dict[str, Any]]) -> dict[str, Any]:
    """The audit fields of one question: its SHA-256 (the text only with ``--audit-questions``), domain, cited ids."""
    entry: dict[str, Any] = {
        "question_sha256": question_hash(question),
        "domain": domain,
        "citations": [c["id"] for c in citations],
    }
    if service.audit.include_questions:
        entry["question"] = question
    return entry


class AuditLog:
    """Appends one JSON line per API request; lines are written whole under a lock and flushed at once."""

    def __init__(self, path: Path | None, include_questions: bool = False) -> None:
        self.path, self.include_questions = path, include_questions
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}, ensure_ascii=False)
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, (line + "\n").encode("utf-8"))
            finally:
                os.close(descriptor)
