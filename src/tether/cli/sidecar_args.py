"""Flags shared by ``tether serve`` and ``tether run``, and the settings they produce."""

from __future__ import annotations

import argparse
import os
from typing import TypedDict

from tether.settings import DEFAULT_APP_ID, Settings, env_float, env_int
from tether.store.factory import default_store_url


def add_sidecar_flags(parser: argparse.ArgumentParser, *, default_ports: tuple[int, int]) -> None:
    grpc_default, http_default = default_ports
    parser.add_argument("-a", "--app-id", default=None, help="the app id this sidecar serves")
    parser.add_argument(
        "--grpc-port",
        "--dapr-grpc-port",
        "-G",
        dest="grpc_port",
        type=int,
        default=None,
        help=(
            f"gRPC port for the SDKs (default {grpc_default or 'a free port'}; 0 picks a free one)"
        ),
    )
    parser.add_argument(
        "--http-port",
        "--dapr-http-port",
        "-H",
        dest="http_port",
        type=int,
        default=None,
        help=f"HTTP port (default {http_default or 'a free port'}; 0 picks a free one)",
    )
    parser.add_argument(
        "--store", default=None, help="sqlite:///path.db (default: the per-user store)"
    )
    parser.add_argument(
        "--listen-address", default=None, help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--api-token", default=None, help="require this token (default: $DAPR_API_TOKEN)"
    )
    parser.add_argument(
        "--max-payload", type=int, default=None, help="largest request/work item in bytes"
    )
    parser.add_argument(
        "--health-ping-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="idle time before a health ping to workers that ask for them "
        "(default 30, or $TETHER_HEALTH_PING_SECONDS)",
    )
    parser.add_argument(
        "--start-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a gRPC start waits for the workflow's first step, as Dapr does "
        "(default 5, or $TETHER_START_WAIT_SECONDS; 0 answers once the start is stored)",
    )
    add_telemetry_flags(parser)
    parser.add_argument("--log-level", default=os.environ.get("TETHER_LOG_LEVEL", "info"))
    parser.add_argument("--log-as-json", action="store_true", help="log one JSON object per line")
    parser.add_argument("--log-file", default=None, help="write sidecar logs to this file")
    parser.set_defaults(_default_ports=default_ports)


def _flag_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"{value!r} is not true or false")
    return lowered in ("true", "1")


def add_telemetry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--enable-metrics",
        type=_flag_bool,
        default=None,
        metavar="BOOL",
        help="serve Prometheus metrics on GET /metrics (default true, or $TETHER_METRICS)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="also serve /metrics on this port, as Dapr does (default: only the HTTP port)",
    )
    parser.add_argument(
        "--metrics-open",
        action="store_true",
        help="answer /metrics on --metrics-port without the API token (for scrapers)",
    )
    parser.add_argument(
        "--tracing-endpoint",
        default=None,
        metavar="URL",
        help="export OpenTelemetry spans over OTLP to this collector "
        "(default $OTEL_EXPORTER_OTLP_ENDPOINT; unset: tracing off); needs tether[otel]",
    )
    parser.add_argument(
        "--tracing-protocol",
        choices=["grpc", "http"],
        default=None,
        help="OTLP transport (default $OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)",
    )
    parser.add_argument(
        "--tracing-sampling-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="share of new traces recorded, 0 to 1 (default 1; a caller's sampled flag wins)",
    )


class TelemetryFields(TypedDict):
    metrics_enabled: bool
    metrics_port: int | None
    metrics_open: bool
    tracing_endpoint: str | None
    tracing_protocol: str | None
    tracing_sampling_rate: float


def telemetry_settings(args: argparse.Namespace) -> TelemetryFields:
    """The telemetry fields of :class:`Settings` from flags, then environment variables."""
    enabled = args.enable_metrics
    if enabled is None:
        enabled = _flag_bool(os.environ.get("TETHER_METRICS") or "true")
    port = args.metrics_port
    if port is None and os.environ.get("TETHER_METRICS_PORT"):
        port = env_int("TETHER_METRICS_PORT", 0)
    rate = args.tracing_sampling_rate
    return {
        "metrics_enabled": enabled,
        "metrics_port": port,
        "metrics_open": args.metrics_open,
        "tracing_endpoint": args.tracing_endpoint,
        "tracing_protocol": args.tracing_protocol,
        "tracing_sampling_rate": rate if rate is not None else 1.0,
    }


def settings_from_args(args: argparse.Namespace) -> Settings:
    grpc_default, http_default = args._default_ports
    token = args.api_token if args.api_token is not None else os.environ.get("DAPR_API_TOKEN")
    return Settings(
        app_id=args.app_id or os.environ.get("APP_ID") or DEFAULT_APP_ID,
        grpc_port=(
            args.grpc_port
            if args.grpc_port is not None
            else env_int("TETHER_GRPC_PORT", grpc_default)
        ),
        http_port=(
            args.http_port
            if args.http_port is not None
            else env_int("TETHER_HTTP_PORT", http_default)
        ),
        listen_address=args.listen_address or os.environ.get("TETHER_LISTEN_ADDRESS", "127.0.0.1"),
        store_url=args.store or default_store_url(),
        api_token=token or None,
        max_payload_bytes=args.max_payload or env_int("TETHER_MAX_PAYLOAD", 4 * 1024 * 1024),
        log_level=args.log_level,
        health_ping_seconds=(
            args.health_ping_interval
            if args.health_ping_interval is not None
            else env_float("TETHER_HEALTH_PING_SECONDS", 30.0)
        ),
        start_wait_seconds=(
            args.start_wait
            if args.start_wait is not None
            else env_float("TETHER_START_WAIT_SECONDS", 5.0)
        ),
        **telemetry_settings(args),
    )
