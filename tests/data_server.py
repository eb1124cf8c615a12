"""A loopback HTTP file server for the dataset-fetch tests: serves byte strings or files by URL path, answers
``Range: bytes=N-`` with 206, records every request, and can be scripted to fail. Stdlib only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Faults, per URL path: "500" (server error), "cut_once" (the first response stops half-way and the connection
# closes), "corrupt" (one byte flipped), "truncate" (a complete response carrying only the first half).
FAULTS = ("500", "cut_once", "corrupt", "truncate")


@dataclass
class DataServer:
    """Serve ``routes`` (URL path -> file or bytes) on 127.0.0.1; ``url`` is the base to use as a mirror."""

    routes: dict[str, Path | bytes]
    faults: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                source = server.routes.get(self.path)
                if source is None:
                    self.send_error(404)
                    return
                fault = server.faults.get(self.path)
                if fault == "500":
                    self.send_error(500, "scripted failure")
                    return
                data = source.read_bytes() if isinstance(source, Path) else source
                if fault == "corrupt":
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
                elif fault == "truncate":
                    data = data[: len(data) // 2]
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                    start = int(ranged[len("bytes=") : -1])
                    if start >= len(data):
                        self.send_error(416)
                        return
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if fault == "cut_once":
                    del server.faults[self.path]
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
