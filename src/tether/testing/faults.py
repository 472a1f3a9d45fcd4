"""Fault injection for testing workflows (and tether) against an unreliable world.

* :class:`FaultPlan` decides, from a seed, what happens to each work item and each completion:
  dropped, duplicated, delayed or reordered. The same seed makes the same decisions.
* :class:`FaultyProxy` is a ``TaskHubSidecarService`` proxy between an SDK worker (or client)
  and a sidecar that applies a plan: point the worker at ``proxy.port``. It needs no hooks in
  the engine; a dropped message also ends the worker's stream a moment later, as a lost
  connection would, so the sidecar sends the unfinished work again. ``retarget`` follows a
  sidecar that was restarted on other ports; ``sever`` ends every stream at once.
* :class:`FaultyStore` wraps a store and makes chosen writes fail before they reach it (for an
  :class:`~tether.testing.InProcessSidecar` built on it).

Killing the worker or the sidecar needs no help from here: run them as processes
(:class:`~tether.testing.SidecarProcess`) and SIGKILL them; ``tests/chaos`` shows the whole
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from tether.errors import StoreError

T = TypeVar("T")

SERVICE = "TaskHubSidecarService"
_UNARY = (
    "Hello",
    "StartInstance",
    "GetInstance",
    "WaitForInstanceStart",
    "WaitForInstanceCompletion",
    "RaiseEvent",
    "TerminateInstance",
    "SuspendInstance",
    "ResumeInstance",
    "PurgeInstances",
    "CompleteActivityTask",
    "CompleteOrchestratorTask",
    "CompleteWorkflowTask",
    "RerunWorkflowFromEvent",
    "ListInstanceIDs",
    "GetInstanceHistory",
)
_COMPLETIONS = frozenset(
    {"CompleteActivityTask", "CompleteOrchestratorTask", "CompleteWorkflowTask"}
)
_OPTIONS = [
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
]


@dataclass
class FaultPlan:
    """Seeded decisions for each message; rates are probabilities per message."""

    seed: int = 0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    max_delay: float = 0.3  # seconds
    sever_after: float = 0.5  # seconds between a dropped message and the end of its stream
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def quiet(cls) -> FaultPlan:
        return cls()

    @classmethod
    def random(cls, seed: int, intensity: float = 0.1) -> FaultPlan:
        """A plan whose rates are themselves drawn from the seed (up to ``intensity`` each)."""
        rates = random.Random(seed * 7919 + 1)
        return cls(
            seed=seed,
            drop=rates.uniform(0, intensity),
            duplicate=rates.uniform(0, intensity),
            delay=rates.uniform(0, 2 * intensity),
            reorder=rates.uniform(0, intensity),
        )

    def choose(self, what: str) -> str:
        """``drop``, ``duplicate``, ``delay``, ``reorder`` or ``pass`` for the next ``what``."""
        with self._lock:
            roll = self._random.random()
            choice = "pass"
            for name in ("drop", "duplicate", "delay", "reorder"):
                rate = float(getattr(self, name))
                if roll < rate:
                    choice = name
                    break
                roll -= rate
            if choice != "pass":
                self.log.append(f"{choice} {what}")
            return choice

    def pause(self) -> float:
        with self._lock:
            return self._random.uniform(0.0, self.max_delay)


class _Severed(Exception):
    pass


class FaultyProxy:
    """A gRPC proxy for ``TaskHubSidecarService`` that applies a :class:`FaultPlan`."""

    def __init__(self, upstream_port: int, plan: FaultPlan | None = None) -> None:
        self.upstream_port = upstream_port
        self.plan = plan or FaultPlan.quiet()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._channel: grpc.aio.Channel | None = None
        self._streams: set[asyncio.Event] = set()
        self._closing: set[asyncio.Task[None]] = set()

    # -- control (any thread) ------------------------------------------------------------------
    def start(self) -> FaultyProxy:
        self._thread = threading.Thread(target=self._main, name="tether-fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError("the fault proxy did not start")
        return self

    def retarget(self, upstream_port: int) -> None:
        """Send from now on to a sidecar on another port (e.g. one restarted after a kill)."""
        self._call(self._retarget, upstream_port)

    def sever(self) -> None:
        """End every worker stream now, as a broken connection would."""
        self._call(self._sever_all)

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn, *args)

    # -- the proxy's own loop ------------------------------------------------------------------
    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.upstream_port}", _OPTIONS)
        server = grpc.aio.server(options=_OPTIONS)
        handlers: dict[str, grpc.RpcMethodHandler] = {
            name: grpc.unary_unary_rpc_method_handler(self._unary(name)) for name in _UNARY
        }
        handlers["GetWorkItems"] = grpc.unary_stream_rpc_method_handler(self._work_items)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._ready.set()
        await self._stopped.wait()
        self._sever_all()
        await server.stop(0.5)
        await self._channel.close()

    def _retarget(self, upstream_port: int) -> None:
        old = self._channel
        self.upstream_port = upstream_port
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{upstream_port}", _OPTIONS)
        self._sever_all()
        if old is not None:
            closing = asyncio.ensure_future(old.close(grace=1.0))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def _sever_all(self) -> None:
        for stop in list(self._streams):
            stop.set()

    def _sever_later(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self.plan.sever_after, self._sever_all)

    def _unary(self, name: str) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            choice = self.plan.choose(name) if name in _COMPLETIONS else "pass"
            if choice == "drop":
                self._sever_later()  # lost on the wire: the sidecar resends after the stream ends
                return b""
            if choice in ("delay", "reorder"):  # held back, so later completions overtake it
                await asyncio.sleep(self.plan.pause())
            response = await self._forward(name, request, context)
            if choice == "duplicate":  # the copy's answer (e.g. a stale token) is not the caller's
                with contextlib.suppress(grpc.RpcError):
                    await self._send(name, request, context)
            return response

        return handle

    async def _send(self, name: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        assert self._channel is not None
        call = self._channel.unary_unary(f"/{SERVICE}/{name}")
        remaining = context.time_remaining()
        timeout = None if remaining is None or remaining > 10**6 else remaining
        response: bytes = await call(
            request, timeout=timeout, metadata=tuple(context.invocation_metadata() or ())
        )
        return response

    async def _forward(self, name: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            return await self._send(name, request, context)
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "")
            raise  # abort raised already

    async def _work_items(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        assert self._channel is not None
        stop = asyncio.Event()
        self._streams.add(stop)
        upstream = self._channel.unary_stream(f"/{SERVICE}/GetWorkItems")(
            request, metadata=tuple(context.invocation_metadata() or ())
        )
        held: bytes | None = None
        try:
            # A reordered item waits for the next one, but never longer than a delay would.
            patience = lambda: self.plan.max_delay if held is not None else None  # noqa: E731
            async for item in _until(upstream, stop, patience):
                if item is None:
                    if held is not None:
                        yield held
                        held = None
                    continue
                choice = self.plan.choose("work item")
                if choice == "drop":
                    self._sever_later()
                    continue
                if choice == "delay":
                    await asyncio.sleep(self.plan.pause())
                if choice == "reorder" and held is None:
                    held = item  # goes out after the next item
                    continue
                yield item
                if choice == "duplicate":
                    yield item
                if held is not None:
                    yield held
                    held = None
        except grpc.aio.AioRpcError as exc:
            upstream.cancel()
            await context.abort(exc.code(), exc.details() or "")
        finally:
            self._streams.discard(stop)
            upstream.cancel()
        # UNAVAILABLE: the SDK worker reconnects after it (it stops for good after CANCELLED).
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the fault proxy ended the stream")


async def _until(
    upstream: Any, stop: asyncio.Event, patience: Callable[[], float | None]
) -> AsyncIterator[bytes | None]:
    """The upstream stream's items until ``stop`` is set; None when no item came within
    ``patience()`` seconds (None: wait as long as it takes)."""
    items = upstream.__aiter__()
    stopped = asyncio.ensure_future(stop.wait())
    following: asyncio.Future[bytes] | None = None
    try:
        while True:
            if following is None:
                following = asyncio.ensure_future(items.__anext__())
            done, _ = await asyncio.wait(
                {following, stopped}, timeout=patience(), return_when=asyncio.FIRST_COMPLETED
            )
            if stopped in done:
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following
                return
            if following not in done:
                yield None
                continue
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            following = None
            yield item
    finally:
        stopped.cancel()


class FaultyStore:
    """A store whose writes fail on demand, before anything reaches the real store.

    ``fail_next(n)`` fails the next ``n`` writes; ``fail_rate`` fails each write with that
    probability (seeded). Every other call goes to the wrapped store.
    """

    def __init__(self, store: Any, *, seed: int = 0, fail_rate: float = 0.0) -> None:
        self._store = store
        self._random = random.Random(seed)
        self.fail_rate = fail_rate
        self._fail_next = 0
        self.failed = 0

    def fail_next(self, count: int = 1) -> None:
        self._fail_next += count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def write(self, fn: Callable[[Any], T]) -> T:
        if self._fail_next > 0 or (self.fail_rate and self._random.random() < self.fail_rate):
            self._fail_next = max(0, self._fail_next - 1)
            self.failed += 1
            raise StoreError("injected store write failure (tether.testing.faults.FaultyStore)")
        result: T = await self._store.write(fn)
        return result
