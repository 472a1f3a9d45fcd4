"""The HTTP server's configuration: uvicorn with bounded connections, and the process's file
descriptor limit.

uvicorn closes an idle keep-alive connection after a few seconds, but a connection that never
sends a complete request is kept forever, and nothing bounds how many there are: about a
thousand idle local sockets used to exhaust the default 1,024 descriptors, and gRPC calls then
timed out. Here a connection must send a request's headers within :data:`HEADER_TIMEOUT`
seconds (of opening, or of its previous response), and past :func:`connection_cap` connections
the oldest idle ones are closed to make room for new ones.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0
_MAX_CONNECTIONS = 1024
_FD_TARGET = 65536


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit towards the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _FD_TARGET if hard == resource.RLIM_INFINITY else min(hard, _FD_TARGET)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
    return soft


def connection_cap() -> int:
    """How many HTTP connections to keep: a quarter of the descriptors, leaving the rest to
    gRPC, the store and the workers."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _MAX_CONNECTIONS
    return max(16, min(_MAX_CONNECTIONS, soft // 4))


class BoundedH11Protocol(H11Protocol):  # type: ignore[misc]
    """uvicorn's h11 protocol with a header timeout and a cap on open connections."""

    cap = _MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self.opened_at = 0.0

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.opened_at = self.loop.time()
        self._arm_header_timer()
        excess = len(self.connections) - self.cap
        if excess > 0:
            idle = [
                c
                for c in self.connections
                if isinstance(c, BoundedH11Protocol) and c is not self and c._idle()
            ]
            idle.sort(key=lambda c: c.opened_at)
            for connection in idle[:excess]:
                connection.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._idle() and not self.transport.is_closing():
            self.transport.close()


def http_config(app: Any) -> uvicorn.Config:
    """uvicorn's configuration for the sidecar's HTTP API."""
    BoundedH11Protocol.cap = connection_cap()
    return uvicorn.Config(
        app,
        http=BoundedH11Protocol,
        log_config=None,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
