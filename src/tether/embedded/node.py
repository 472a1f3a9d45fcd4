"""An embedded node: a tether engine on its own event-loop thread inside the app's process.

It is the same node ``tether serve`` runs (``Engine`` on a store, registered in the store's node
table, taking over instances of stopped nodes), optionally also serving the gRPC and HTTP ports
(``serve=True``: a whole :class:`tether.sidecar.Sidecar`). Runtimes and clients of one process
that name the same store and app share one node; it stops when the last of them lets go.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tether.embedded import _sdk
from tether.embedded.worker import InProcessWorker
from tether.engine.engine import Engine
from tether.errors import ConfigError
from tether.settings import DEFAULT_APP_ID, Settings, env_float, env_int
from tether.sidecar import Sidecar
from tether.store import open_store
from tether.store.factory import default_store_url

log = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.Lock()
_nodes: dict[tuple[str, str], EmbeddedNode] = {}


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def resolve(app_id: str | None, store: str | None) -> tuple[str, str]:
    """The app id and store URL an embedded runtime or client uses, from arguments or env."""
    app = app_id or os.environ.get("APP_ID") or DEFAULT_APP_ID
    url = store or default_store_url()
    if "://" not in url:
        url = f"sqlite:///{os.path.abspath(os.path.expanduser(url))}"
    return app, url


def acquire(app_id: str | None = None, store: str | None = None, **options: Any) -> EmbeddedNode:
    """The process's node for this app and store, started on first use; pair with release()."""
    key = resolve(app_id, store)
    with _lock:
        node = _nodes.get(key)
        serve = bool(options.get("serve"))
        if node is None or node.stopped:
            node = EmbeddedNode(_settings(key, options))
            node.start(serve=serve)
            _nodes[key] = node
        elif serve and node.sidecar is None:
            raise ConfigError(
                f"the embedded node of app {key[0]!r} on {key[1]} is already running without "
                "ports; create the WorkflowRuntime(serve=True) before any client of that app"
            )
        node.users += 1
        return node


def release(node: EmbeddedNode) -> None:
    with _lock:
        node.users -= 1
        if node.users > 0:
            return
        if _nodes.get(node.key) is node:
            del _nodes[node.key]
    node.stop()


def _settings(key: tuple[str, str], options: dict[str, Any]) -> Settings:
    """A node's settings: the arguments, then the environment ``tether serve`` reads."""
    return Settings(
        app_id=key[0],
        store_url=key[1],
        grpc_port=int(options.get("grpc_port") or 0),
        http_port=int(options.get("http_port") or 0),
        api_token=os.environ.get("DAPR_API_TOKEN") or None,
        max_payload_bytes=env_int("TETHER_MAX_PAYLOAD", 4 * 1024 * 1024),
        start_wait_seconds=env_float("TETHER_START_WAIT_SECONDS", 5.0),
    )


def _at_exit(fn: Any) -> None:
    """Stop the node when the interpreter exits, before thread pools refuse new work (the
    store's close needs one): threading's exit hooks run before atexit's. Either way nothing
    acknowledged is lost, since every acknowledgement waited for its commit."""
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        _exit_hooks.add(fn)
        register(_run_exit_hook, fn)
    else:
        atexit.register(fn)


_exit_hooks: set[Any] = set()


def _run_exit_hook(fn: Any) -> None:
    if fn in _exit_hooks:
        _exit_hooks.discard(fn)
        fn()


def _forget_at_exit(fn: Any) -> None:
    _exit_hooks.discard(fn)
    atexit.unregister(fn)


class EmbeddedNode:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = (settings.app_id, settings.store_url)
        self.users = 0
        self.waiting = 0  # clients blocked in a WaitForInstance* call
        self.stopped = False
        self.sidecar: Sidecar | None = None
        self.workers: list[InProcessWorker] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name=f"tether-embedded-{settings.app_id}", daemon=True
        )
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "the embedded node is not started"
        return self._engine

    @property
    def grpc_port(self) -> int:
        return self.sidecar.grpc_port if self.sidecar is not None else 0

    @property
    def http_port(self) -> int:
        return self.sidecar.http_port if self.sidecar is not None else 0

    def start(self, serve: bool = False) -> None:
        _sdk.check_sdk_shape()
        self._thread.start()
        try:
            self.call(self._start(serve))
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.stopped = True
            raise
        _at_exit(self.stop)
        log.info(
            "embedded tether node for app %r on %s%s",
            self.settings.app_id,
            self.settings.store_url,
            f" (gRPC {self.grpc_port}, HTTP {self.http_port})" if serve else "",
        )

    async def _start(self, serve: bool) -> None:
        store = open_store(self.settings.store_url)
        if serve:
            self.sidecar = Sidecar(self.settings, store)
            await self.sidecar.start()
            self._engine = self.sidecar.engine
        else:
            self._engine = Engine(self.settings, store)
            await self._engine.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the node's loop and wait for its result from another thread."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking workflow client call was made on the embedded engine's own thread "
                "(from an async activity?); use tether.embedded.aio.DaprWorkflowClient there"
            )
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def attach(self, options: _sdk.WorkerOptions, sticky: bool, verify: bool) -> InProcessWorker:
        async def attach() -> InProcessWorker:
            worker = InProcessWorker(self.engine, options, sticky=sticky, verify=verify)
            worker.start()
            self.workers.append(worker)
            return worker

        return self.call(attach())

    def detach(self, worker: InProcessWorker) -> None:
        if self.stopped:
            return
        if worker in self.workers:
            self.workers.remove(worker)
        self.call(worker.stop())

    def idle(self) -> bool:
        """Nothing can run until time passes: no engine work, no worker busy, nothing queued.
        Call on the node's loop."""
        return self.engine.idle() and not any(w.busy for w in self.workers)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        _forget_at_exit(self.stop)

        async def stop() -> None:
            for worker in list(self.workers):
                await worker.stop()
            self.workers.clear()
            if self.sidecar is not None:
                await self.sidecar.stop()
            elif self._engine is not None:
                await self._engine.stop()
                await self._engine.store.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self.loop.close()
