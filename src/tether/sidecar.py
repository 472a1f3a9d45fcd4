"""A whole sidecar in one object: store, engine, gRPC server and HTTP server on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from pathlib import Path

import grpc
import uvicorn

from tether import registry
from tether.engine.engine import Engine
from tether.engine.retention import Retention
from tether.httpapi.app import build_app
from tether.httpapi.server import http_config, raise_fd_limit
from tether.protocol.server import start_grpc
from tether.settings import Settings
from tether.store import Store, open_store
from tether.store.factory import sqlite_path

log = logging.getLogger(__name__)


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        from tether.errors import ConfigError

        raise ConfigError(f"http_port: cannot listen on {address}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _store_description(store: Store) -> str:
    if store.kind == "sqlite":
        return f"SQLite file {sqlite_path(store.url)}"
    return store.url.split("@")[-1]


class Sidecar:
    def __init__(
        self, settings: Settings, store: Store | None = None, announce: bool = True
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings.store_url)
        self.engine = Engine(settings, self.store)
        self.retention = Retention(self.engine)
        self.grpc_port = 0
        self.http_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._announce = announce
        self._announced: Path | None = None

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            # Nothing half-started may outlive a failed start (a gRPC server left to the garbage
            # collector after the loop closed prints "Event loop is closed").
            await self._abort()
            raise

    async def _abort(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(None)
            self._grpc = None
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(BaseException):
                await self._http_task
        with contextlib.suppress(BaseException):
            await self.store.close()

    async def _start(self) -> None:
        s = self.settings
        raise_fd_limit()
        sock = _bind(s.listen_address, s.http_port)
        try:
            self._grpc, self.grpc_port = await start_grpc(
                self.engine, s.listen_address, s.grpc_port
            )
        except BaseException:
            sock.close()
            raise
        self.http_port = sock.getsockname()[1]
        self._http = uvicorn.Server(http_config(build_app(self.engine)))
        self._http.install_signal_handlers = lambda: None
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        await self.engine.start(self.grpc_port, self.http_port)
        self.retention.start()
        if self._announce:
            self._announced = registry.announce(
                registry.RunningSidecar(
                    app_id=s.app_id,
                    pid=self.engine.nodes.pid,
                    grpc_port=self.grpc_port,
                    http_port=self.http_port,
                    listen_address=s.listen_address,
                    store_url=self.store.url,
                    started_at=time.time(),
                    api_token_set=bool(s.api_token),
                    process_started=registry.process_started(self.engine.nodes.pid),
                )
            )
        log.info(
            "tether serving app %r: gRPC on %s:%d, HTTP on %s:%d, store %s",
            s.app_id,
            s.listen_address,
            self.grpc_port,
            s.listen_address,
            self.http_port,
            self.store.url,
        )
        log.info("store: %s (%s)", _store_description(self.store), s.store_source)

    async def stop(self) -> None:
        if self._announced is not None:
            registry.withdraw(self._announced)
            self._announced = None
        await self.retention.stop()
        await self.engine.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=2.0)
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._http_task
        await self.store.close()
