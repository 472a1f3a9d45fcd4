"""Flags shared by ``tether serve`` and ``tether run``, and the settings they produce.

They are ``dapr run``'s flags: those tether has a use for set a setting, the rest (placement,
scheduler, profiling, app health checks …) are accepted and named in a one-line notice. Each setting
is taken from its flag, else its environment variable, else Dapr's files (``--config``,
``--resources-path``, or ``~/.dapr/components`` as ``dapr run`` does), else its default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tether import daprfiles
from tether.errors import ConfigError
from tether.settings import DEFAULT_APP_ID, Settings, env_bool, env_float, env_int
from tether.store.factory import check_url, default_store_url

MiB = 1024 * 1024

# dapr run flags that mean nothing to tether, and why (shown once when given).
_IGNORED: dict[str, tuple[str, str]] = {
    "--placement-host-address": ("", "tether needs no placement service"),
    "--scheduler-host-address": ("", "tether schedules timers itself"),
    "--dapr-internal-grpc-port": ("-I", "tether has no internal gRPC API"),
    "--profile-port": ("", "tether has no profiling endpoint"),
    "--app-max-concurrency": ("", "tether does not call the app"),
    "--app-health-check-path": ("", "tether does not probe the app"),
    "--app-health-probe-interval": ("", "tether does not probe the app"),
    "--app-health-probe-timeout": ("", "tether does not probe the app"),
    "--app-health-threshold": ("", "tether does not probe the app"),
    "--dapr-http-read-buffer-size": ("", "tether sizes its read buffers itself"),
    "--read-buffer-size": ("", "tether sizes its read buffers itself"),
    "--unix-domain-socket": ("-u", "tether listens on TCP only"),
}
_IGNORED_SWITCHES: dict[str, str] = {
    "--enable-api-logging": "use --log-level debug to see every call",
    "--enable-profiling": "tether has no profiling endpoint",
    "--enable-app-health-check": "tether does not probe the app",
    "--app-ssl": "tether does not call the app",
}
_LOG_LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "fatal": "ERROR",
    "panic": "ERROR",
}


def _dest(flag: str) -> str:
    return "ignored_" + flag.lstrip("-").replace("-", "_")


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
        "--store",
        default=None,
        help="sqlite:///absolute/path.db or sqlite:relative/path.db (default: an actor state "
        "store in --resources-path, else $TETHER_STORE, else the per-user store)",
    )
    parser.add_argument(
        "--listen-address",
        "--dapr-listen-addresses",
        dest="listen_address",
        default=None,
        help="address to listen on (default 127.0.0.1; of a comma-separated list, the first)",
    )
    parser.add_argument(
        "--api-token", default=None, help="require this token (default: $DAPR_API_TOKEN)"
    )
    parser.add_argument(
        "--max-payload", type=int, default=None, help="largest request/work item in bytes"
    )
    parser.add_argument(
        "--dapr-http-max-request-size",
        type=int,
        default=None,
        metavar="MB",
        help="Dapr's form of --max-payload, in MB",
    )
    parser.add_argument(
        "--max-body-size", default=None, help="Dapr's form of --max-payload, e.g. 4Mi"
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
    parser.add_argument(
        "--refuse-duplicate-start",
        action="store_true",
        default=None,
        help="refuse to start an ID whose instance is still running, as daprd does "
        "(default: return the running instance; or $TETHER_REFUSE_DUPLICATE_START)",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="debug, info, warn or error (Dapr's fatal and panic mean error); "
        "default info, or $TETHER_LOG_LEVEL",
    )
    parser.add_argument("--log-as-json", action="store_true", help="log one JSON object per line")
    parser.add_argument("--log-file", default=None, help="write sidecar logs to this file")
    # Dapr's app and resource flags.
    parser.add_argument(
        "-p", "--app-port", type=int, default=None, help="the port the app listens on ($APP_PORT)"
    )
    parser.add_argument(
        "-P", "--app-protocol", default=None, help="the app's protocol (default http)"
    )
    parser.add_argument(
        "--app-channel-address", default=None, help="the address the app listens on"
    )
    parser.add_argument(
        "--resources-path",
        "--components-path",
        "-d",
        dest="resources_path",
        action="append",
        default=None,
        metavar="DIR",
        help="a folder of Dapr component YAML; an actor state store there selects the store "
        "(repeatable; default ~/.dapr/components, as dapr run)",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        metavar="FILE",
        help="a Dapr Configuration: spec.workflow limits and retention, spec.tracing",
    )
    for flag, (short, _why) in _IGNORED.items():
        names = [flag, short] if short else [flag]
        parser.add_argument(*names, dest=_dest(flag), default=None, help=argparse.SUPPRESS)
    for flag in _IGNORED_SWITCHES:
        parser.add_argument(
            flag, dest=_dest(flag), nargs="?", const="true", default=None, help=argparse.SUPPRESS
        )
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
        "-M",
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


def telemetry_settings(
    args: argparse.Namespace, config: daprfiles.DaprConfiguration | None, notices: list[str]
) -> TelemetryFields:
    """The telemetry fields of :class:`Settings` from flags, then environment variables, then
    a Dapr Configuration's ``spec.tracing`` (a Zipkin exporter there is passed over with a
    notice: tether exports OTLP only)."""
    if config is not None and config.tracing_protocol == "zipkin":
        notices.append(
            f"{config.source}: spec.tracing.zipkin is not used: tether exports traces over OTLP "
            "only (spec.tracing.otel, or --tracing-endpoint)"
        )
        config = dataclasses.replace(config, tracing_endpoint=None, tracing_protocol=None)
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
        "tracing_endpoint": _first(args.tracing_endpoint, config and config.tracing_endpoint),
        "tracing_protocol": _first(args.tracing_protocol, config and config.tracing_protocol),
        "tracing_sampling_rate": _first(rate, config and config.tracing_sampling_rate, 1.0),
    }


@dataclass
class Resolved:
    """The settings and what to tell the user about how they were chosen."""

    settings: Settings
    notices: list[str] = field(default_factory=list)


def notices_for_ignored(args: argparse.Namespace) -> list[str]:
    notes = []
    for flag, (_short, why) in _IGNORED.items():
        if getattr(args, _dest(flag)) is not None:
            notes.append(f"{flag} is accepted for dapr run compatibility and ignored: {why}")
    for flag, why in _IGNORED_SWITCHES.items():
        if getattr(args, _dest(flag)) is not None:
            notes.append(f"{flag} is accepted for dapr run compatibility and ignored: {why}")
    return notes


def _quantity(value: str) -> int:
    """A Kubernetes-style size (``4Mi``, ``512Ki``, ``4M``, ``1048576``) in bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*(Ki|Mi|Gi|K|M|G|k)?\s*", value)
    if match is None:
        raise ConfigError(f"max_body_size: {value!r} is not a size such as 4Mi")
    units = {"Ki": 1024, "Mi": MiB, "Gi": 1024 * MiB, "K": 1000, "k": 1000, "M": 10**6}
    units["G"] = 10**9
    return int(match.group(1)) * units.get(match.group(2) or "", 1)


def _max_payload(args: argparse.Namespace) -> int:
    if args.max_payload:
        return int(args.max_payload)
    if args.dapr_http_max_request_size:
        return int(args.dapr_http_max_request_size) * MiB
    if args.max_body_size:
        return _quantity(args.max_body_size)
    return env_int("TETHER_MAX_PAYLOAD", 4 * MiB)


def _log_level(args: argparse.Namespace) -> str:
    raw = args.log_level or os.environ.get("TETHER_LOG_LEVEL") or "info"
    level = _LOG_LEVELS.get(raw.strip().lower())
    if level is None:
        raise ConfigError(f"log_level: {raw!r} is not one of debug, info, warn, error")
    return level


def _resources_paths(args: argparse.Namespace) -> list[str]:
    if args.resources_path:
        return list(args.resources_path)
    env = os.environ.get("TETHER_RESOURCES_PATH")
    return [p for p in env.split(os.pathsep) if p] if env else []


def _store(args: argparse.Namespace, app_id: str, notices: list[str]) -> tuple[str, str]:
    """The store URL and where it came from."""
    if args.store:
        return args.store, "--store"
    if os.environ.get("TETHER_STORE"):
        return os.environ["TETHER_STORE"], "$TETHER_STORE"
    paths = _resources_paths(args)
    if paths:
        found = daprfiles.actor_store(daprfiles.load_components(paths), app_id)
        if found is None:
            notices.append(
                f"no actor state store component in {', '.join(paths)}: using the default store"
            )
            return default_store_url(), "default"
        check_url(found.url)
        return found.url, f"component '{found.component.name}' ({found.component.source})"
    folder = daprfiles.dapr_components_dir()
    if not folder.is_dir():
        return default_store_url(), "default"
    # A leftover Dapr install must never stop tether: anything wrong there is one log line.
    try:
        found = daprfiles.actor_store(daprfiles.load_components([folder]), app_id)
        if found is not None:
            check_url(found.url)
    except ConfigError as exc:
        notices.append(
            f"not using the actor state store in {folder} (where dapr run looks): "
            f"{exc.message}; using the default store"
        )
        return default_store_url(), "default"
    if found is None:
        return default_store_url(), "default"
    return found.url, f"component '{found.component.name}' from {folder}, where dapr run looks"


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _configuration(
    args: argparse.Namespace, notices: list[str]
) -> daprfiles.DaprConfiguration | None:
    """``--config`` (or ``$TETHER_CONFIG``), else the one ``dapr run`` uses by default. A bad
    file named on purpose is an error; a leftover default one never stops tether."""
    named = args.config or os.environ.get("TETHER_CONFIG")
    if named:
        return daprfiles.load_configuration(named)
    default = daprfiles.dapr_default_config()
    if not default.is_file():
        return None
    try:
        config = daprfiles.load_configuration(default)
    except ConfigError as exc:
        notices.append(f"not using {default} (where dapr run looks): {exc.message}")
        return None
    notices.append(f"using the Dapr Configuration {default}, where dapr run looks")
    return config


def resolve(args: argparse.Namespace) -> Resolved:
    """Settings from flags, then environment, then Dapr's files, then defaults."""
    grpc_default, http_default = args._default_ports
    notices = notices_for_ignored(args)
    token = args.api_token if args.api_token is not None else os.environ.get("DAPR_API_TOKEN")
    app_id = args.app_id or os.environ.get("APP_ID") or DEFAULT_APP_ID
    config = _configuration(args, notices)
    store_url, store_source = _store(args, app_id, notices)
    listen = args.listen_address or os.environ.get("TETHER_LISTEN_ADDRESS", "127.0.0.1")
    settings = Settings(
        app_id=app_id,
        grpc_port=_first(args.grpc_port, env_int("TETHER_GRPC_PORT", grpc_default)),
        http_port=_first(args.http_port, env_int("TETHER_HTTP_PORT", http_default)),
        listen_address=listen.split(",")[0].strip(),
        store_url=store_url,
        store_source=store_source,
        api_token=token or None,
        max_payload_bytes=_max_payload(args),
        log_level=_log_level(args),
        health_ping_seconds=_first(
            args.health_ping_interval, env_float("TETHER_HEALTH_PING_SECONDS", 30.0)
        ),
        start_wait_seconds=_first(args.start_wait, env_float("TETHER_START_WAIT_SECONDS", 5.0)),
        refuse_duplicate_start=_first(
            args.refuse_duplicate_start, env_bool("TETHER_REFUSE_DUPLICATE_START", False)
        ),
        **telemetry_settings(args, config, notices),
        app_port=_first(args.app_port, env_int("APP_PORT", 0)),
        app_protocol=(args.app_protocol or os.environ.get("APP_PROTOCOL") or "http").lower(),
        app_channel_address=args.app_channel_address
        or os.environ.get("APP_CHANNEL_ADDRESS", "127.0.0.1"),
        max_concurrent_workflows=_limit(
            "TETHER_MAX_CONCURRENT_WORKFLOWS", config.max_concurrent_workflows if config else None
        ),
        max_concurrent_activities=_limit(
            "TETHER_MAX_CONCURRENT_ACTIVITIES", config.max_concurrent_activities if config else None
        ),
        retention_seconds=tuple(sorted(config.retention.items())) if config else (),
        tracing_secure=config.tracing_secure if config else False,
    )
    return Resolved(settings, notices)


def _limit(env_name: str, from_file: int | None) -> int:
    return env_int(env_name, from_file or 0)


def app_environment(settings: Settings) -> dict[str, str]:
    """What ``dapr run`` tells the app about itself besides the sidecar's ports."""
    env = {"APP_ID": settings.app_id, "APP_PROTOCOL": settings.app_protocol}
    if settings.app_port:
        env["APP_PORT"] = str(settings.app_port)
    if settings.app_channel_address != "127.0.0.1":
        env["APP_CHANNEL_ADDRESS"] = settings.app_channel_address
    return env
