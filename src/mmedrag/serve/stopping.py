"""A clean stop on SIGTERM: new requests get 503 + ``Connection: close``, requests in flight finish, exit status 0.

uvicorn on SIGTERM closes idle kept-alive connections at once, so a request a client sent on one at that moment
gets no response at all, and after its drain it re-raises the signal (exit 143, which ``make`` reports as a
failure). Here the signal first puts the service in drain mode: each new request, on a new or an open connection,
is answered 503 with ``Connection: close`` and ``Retry-After`` (the client knows it was not served and retries
elsewhere); once the admitted requests have finished (at most ``drain_s``), the signal is handed to uvicorn, which
closes the connections, runs the lifespan shutdown (the batcher answers what is queued) and returns. With one
worker :func:`server` is a uvicorn server that treats SIGTERM as the ordinary stop it is and exits 0; with
``--workers N`` uvicorn's supervisor already exits 0 after stopping its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

log = logging.getLogger("mmedrag.serve")


class Drain:
    """Whether the service is stopping, and how many admitted requests are still being served."""

    def __init__(self, grace_s: float = 30.0) -> None:
        self.grace_s = grace_s
        self.stopping = False
        self.active = 0

    async def finish(self) -> None:
        """Refuse new requests from now on and wait until the admitted ones are done (at most ``grace_s``)."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_s
        while self.active > 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.active:
            log.warning("stopping with %d request(s) still in flight after %.0f s", self.active, self.grace_s)


def on_sigterm(drain: Drain) -> None:
    """Chain a SIGTERM handler in front of uvicorn's: drain first, then pass the signal on (main thread only).

    Nothing is installed when no Python handler is there to hand the signal to (the app outside uvicorn, in tests).
    A second SIGTERM during the drain is handed on at once.
    """
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ValueError):  # signal.getsignal/signal only work in the main thread
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return

        def hand_on(sig: int, frame: Any) -> None:
            previous(sig, frame)

        async def stop(sig: int) -> None:
            log.info("SIGTERM: refusing new requests, finishing %d in flight", drain.active)
            await drain.finish()
            hand_on(sig, None)

        def handler(sig: int, frame: Any) -> None:
            if drain.stopping:
                hand_on(sig, frame)
                return
            drain.stopping = True  # at once: a request already read waits for no event-loop turn
            loop.call_soon_threadsafe(lambda: loop.create_task(stop(sig)))

        signal.signal(signal.SIGTERM, handler)


def server(config: Any) -> Any:
    """A uvicorn server for one process whose SIGTERM ends with exit status 0 (after :func:`on_sigterm`'s drain)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGTERM and not self.should_exit:
                self.should_exit = True  # a requested stop, not re-raised after the shutdown (uvicorn's default)
                return
            super().handle_exit(sig, frame)

    return Server(config)
