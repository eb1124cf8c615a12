"""Start the service under uvicorn: options -> settings and a pipeline loader; one process or ``--workers N``.

With several workers uvicorn imports :func:`app_from_environment` in each worker process, which rebuilds the
same options from ``MMEDRAG_SERVE_OPTIONS`` (keys stay in their own environment variables and files).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.pipeline import RAGPipeline
from mmedrag.serve.peers import shared_readiness
from mmedrag.serve.security import load_keys
from mmedrag.serve.settings import ServeSettings

OPTIONS_VARIABLE = "MMEDRAG_SERVE_OPTIONS"
log = logging.getLogger("mmedrag.serve")


@dataclass
class ServeOptions:
    """Everything ``mmedrag serve`` was asked for, in a JSON-serialisable form."""

    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    api_key_file: str | None = None
    admin_key_file: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    demo: bool = False
    demo_data: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        return cls(**json.loads(text))


def build_settings(options: ServeOptions) -> ServeSettings:
    """Settings with keys from ``MMEDRAG_API_KEYS`` / ``MMEDRAG_ADMIN_KEYS`` and the key files."""
    values = dict(options.settings)
    for name in ("keep_uploads", "audit_log"):
        if values.get(name):
            values[name] = Path(values[name])
    values["cors_origins"] = tuple(values.get("cors_origins", ()))
    settings = ServeSettings(**values)
    settings.api_keys = load_keys("MMEDRAG_API_KEYS", options.api_key_file)
    settings.admin_keys = load_keys("MMEDRAG_ADMIN_KEYS", options.admin_key_file)
    settings.check()
    settings.check_bind()
    return settings


def pipeline_loader(options: ServeOptions) -> Any:
    """A function that builds the pipeline (run once, in the background, after the server is up)."""

    def load() -> RAGPipeline:
        from mmedrag.config import load_config
        from mmedrag.factory import build_pipeline

        values = dict(options.values)
        if options.demo:
            from mmedrag.serve.demo_source import demo_values

            data = Path(options.demo_data) if options.demo_data else None
            values = {**demo_values(data, log=log.info), **values}
        return build_pipeline(load_config(options.config, options.overrides, values))

    return load


def check_options(options: ServeOptions) -> None:
    """Fail in a second, before binding, on a bad config or a missing index (loading the models takes longer).

    Raises:
        ConfigError: the config is invalid. IndexFolderError: ``index`` is no index of any kind ``ask`` opens.
    """
    from mmedrag.config import load_config
    from mmedrag.errors import IndexFolderError
    from mmedrag.stores.locate import index_exists

    config = load_config(options.config, options.overrides, options.values)
    folders = [config.index, *(bundle.index for bundle in config.domains.values())]
    for folder in folders:
        if folder is not None and not index_exists(folder):
            raise IndexFolderError(f"{folder}: no index found; build it with `mmedrag index` or fix --index")


def app_from_environment() -> Any:
    """The app for one uvicorn worker process (``--workers N``)."""
    from mmedrag.serve.app import create_app
    from mmedrag.serve.connections import configure

    options = ServeOptions.from_json(os.environ[OPTIONS_VARIABLE])
    settings = build_settings(options)
    configure(settings.header_timeout_s, settings.max_connections_per_address)
    return create_app(pipeline_loader(options), settings)


def serve(options: ServeOptions, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Run uvicorn until SIGINT/SIGTERM; open requests finish and queued queries are answered before exit."""
    uvicorn = require("uvicorn", "serve")
    from mmedrag.serve.app import create_app
    from mmedrag.serve.connections import PROTOCOL, configure
    from mmedrag.serve.observability import json_log_config

    settings = build_settings(options)  # fail before binding: bad keys, a non-loopback host without keys
    check_options(options)
    configure(settings.header_timeout_s, settings.max_connections_per_address)
    common: dict[str, Any] = {
        "http": PROTOCOL,  # h11 with a request-head deadline and a per-address connection cap
        "host": settings.host,
        "port": port,
        "log_config": json_log_config(log_level.upper()),
        "access_log": False,  # the service logs each request itself, as JSON
        "timeout_graceful_shutdown": max(1, round(settings.drain_s)),
        "server_header": False,
    }
    if workers > 1:
        os.environ[OPTIONS_VARIABLE] = options.to_json()
        # Each worker's torch/BLAS pool gets its share of the cores (unless the operator chose): N workers each
        # spawning one thread per core oversubscribe the machine and lose throughput.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        _run_workers(uvicorn, workers, common)
        return
    from mmedrag.serve.stopping import server

    # uvicorn.run(), but on a server whose SIGTERM exits 0 after the drain (uvicorn re-raises it: exit 143).
    one = server(uvicorn.Config(create_app(pipeline_loader(options), settings), **common))
    one.run()
    if not one.started:  # it never served (the port taken, the start-up failed): uvicorn.run's exit status
        raise SystemExit(3)


def _run_workers(uvicorn: Any, workers: int, common: dict[str, Any]) -> None:
    """``uvicorn.run(..., workers=N)``, but with a listening socket whose connections send without delay.

    uvicorn makes the shared socket with protocol 0, and asyncio only turns Nagle's algorithm off (TCP_NODELAY) on
    connections of a socket that says it is TCP; with delayed ACKs every small response then waited about 40 ms
    (measured: ``/healthz`` 0.7 ms with one worker, 44 ms with two).
    """
    import socket

    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(f"{__name__}:app_from_environment", factory=True, workers=workers, **common)
    bound = config.bind_socket()
    tcp = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Linux copies it to the connections it accepts
    tcp.set_inheritable(True)
    with shared_readiness(workers):
        Multiprocess(config, sockets=[tcp]).run()
