"""In-process stand-ins for the SDK client's gRPC stub: the sidecar's own servicer, called directly.

The SDK clients (``TaskHubGrpcClient`` and its asyncio twin) call ``self._stub.Method(request,
timeout=...)``. These stubs run the same :class:`tether.protocol.servicer.Servicer` method the
gRPC server would, on the embedded node's loop, so every client call validates, waits, routes
and fails exactly as on the sidecar path; errors surface as ``grpc.aio.AioRpcError`` (a
``grpc.RpcError``) with the same status code and message.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import grpc

from tether.embedded.limits import receive_limit
from tether.embedded.node import EmbeddedNode
from tether.embedded.relay import Relay
from tether.protocol.servicer import UNARY, Servicer

_METHODS = frozenset(name for name, _, _ in UNARY)


class _Context:
    """The part of ``grpc.aio.ServicerContext`` the servicer uses."""

    def __init__(self, timeout: float | None, metadata: Any = None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._metadata = tuple(metadata or ())

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


async def _refuse(size: int, limit: int) -> Any:
    """What gRPC answers a message over the server's receive limit."""
    raise grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        f"Received message larger than max ({size} vs. {limit})",
    )


class _Stub:
    def __init__(self, node: EmbeddedNode) -> None:
        self._node = node
        self._servicer = Servicer(node.engine)

    def _coroutine(self, name: str, request: Any, timeout: float | None, metadata: Any) -> Any:
        self._node.engine  # noqa: B018 - fails clearly when the node was stopped
        limit = receive_limit(self._node.settings.max_payload_bytes)
        if request.ByteSize() > limit:
            return _refuse(request.ByteSize(), limit)
        call = getattr(self._servicer, name)(request, _Context(timeout, metadata))
        return self._waiting(call) if name.startswith("WaitFor") else call

    async def _waiting(self, call: Any) -> Any:
        """A client waiting on a workflow (a virtual clock may skip time meanwhile)."""
        self._node.waiting += 1
        try:
            return await call
        finally:
            self._node.waiting -= 1


class InProcessStub(_Stub):
    """Blocking calls from the app's threads."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _METHODS:
            raise AttributeError(name)

        def call(request: Any, timeout: float | None = None, metadata: Any = None, **_: Any) -> Any:
            return self._node.call(self._coroutine(name, request, timeout, metadata))

        return call


class AsyncInProcessStub(_Stub):
    """Awaitable calls from the app's own event loop (not the engine's)."""

    def __init__(self, node: EmbeddedNode) -> None:
        super().__init__(node)
        self._relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Relay] = (
            weakref.WeakKeyDictionary()
        )
        self._relays_lock = threading.Lock()

    def _relay(self, loop: asyncio.AbstractEventLoop) -> Relay:
        relay = self._relays.get(loop)
        if relay is None:
            with self._relays_lock:
                relay = self._relays.setdefault(loop, Relay(self._node.loop, loop))
        return relay

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _METHODS:
            raise AttributeError(name)

        async def call(
            request: Any, timeout: float | None = None, metadata: Any = None, **_: Any
        ) -> Any:
            coro = self._coroutine(name, request, timeout, metadata)
            loop = asyncio.get_running_loop()
            if loop is self._node.loop:
                return await coro  # an async activity or code on the engine's loop
            return await self._relay(loop).call(coro)

        return call
