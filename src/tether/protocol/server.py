"""The gRPC server: options that keep SDK workers connected, size limits, API-token check."""

from __future__ import annotations

import hmac
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from tether.engine.engine import Engine
from tether.errors import ConfigError
from tether.protocol.dapr_api import DaprApi, DaprApiHandler
from tether.protocol.servicer import Servicer, generic_handler

TOKEN_HEADER = "dapr-api-token"


def server_options(max_payload: int) -> list[tuple[str, Any]]:
    return [
        # The SDK pings every 30 s even without calls; a stock server answers GOAWAY.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.keepalive_time_ms", 60000),
        ("grpc.keepalive_timeout_ms", 20000),
        ("grpc.max_receive_message_length", max_payload + 64 * 1024),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 0),
    ]


class TokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuse every call whose ``dapr-api-token`` metadata does not match the configured token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong dapr-api-token: set DAPR_API_TOKEN to the sidecar's API token",
            )

        async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong dapr-api-token: set DAPR_API_TOKEN to the sidecar's API token",
            )
            yield None  # pragma: no cover

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny_stream)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        for key, value in details.invocation_metadata or ():
            if key == TOKEN_HEADER:
                given = value.encode() if isinstance(value, str) else value
                if hmac.compare_digest(given, self._token):
                    return await continuation(details)
        if details.method.endswith("/GetWorkItems"):
            return self._deny_stream
        return self._deny


async def start_grpc(engine: Engine, address: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Start serving; return the server and the port actually bound."""
    settings = engine.settings
    interceptors = [TokenInterceptor(settings.api_token)] if settings.api_token else []
    server = grpc.aio.server(
        options=server_options(settings.max_payload_bytes), interceptors=interceptors
    )
    server.add_generic_rpc_handlers(
        (generic_handler(Servicer(engine)), DaprApiHandler(DaprApi(engine)))
    )
    host = f"[{address}]" if ":" in address else address
    _check_free(address, port)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # newer grpcio raises where older ones returned 0
        bound = 0
    if bound == 0:
        raise ConfigError(f"grpc_port: cannot listen on {address}:{port} (already in use?)")
    await server.start()
    return server, bound


def _check_free(address: str, port: int) -> None:
    """Refuse a taken port with a clear message before gRPC's C core logs its own."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gRPC does: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise ConfigError(
                f"grpc_port: cannot listen on {address}:{port}: {exc.strerror}"
            ) from None
