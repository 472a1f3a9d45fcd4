"""One frozen, typed settings object: CLI flags, then environment variables, then Dapr's files
(``--config``, ``--resources-path``), then defaults. Built by :mod:`tether.cli.sidecar_args`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tether.errors import ConfigError
from tether.store.factory import default_store_url

DEFAULT_APP_ID = "tether"
MiB = 1024 * 1024
APP_PROTOCOLS = ("http", "https", "grpc", "grpcs", "h2c")


@dataclass(frozen=True)
class Settings:
    app_id: str = DEFAULT_APP_ID
    grpc_port: int = 50001
    http_port: int = 3500
    listen_address: str = "127.0.0.1"
    store_url: str = field(default_factory=default_store_url)
    api_token: str | None = None
    max_payload_bytes: int = 4 * MiB
    # How long StartInstance waits for the first turn to commit (Dapr's behaviour), at most;
    # 0 answers as soon as the start is stored.
    start_wait_seconds: float = 5.0
    # How long terminate/suspend/resume wait for their effect before answering anyway.
    control_wait_seconds: float = 10.0
    # A node whose heartbeat is older than this is presumed dead and its work is taken over.
    node_lease_seconds: float = 15.0
    heartbeat_seconds: float = 3.0
    health_ping_seconds: float = 30.0
    log_level: str = "INFO"
    # The app's own port and protocol (``--app-port`` …), as Dapr reports them in metadata.
    app_port: int = 0
    app_protocol: str = "http"
    app_channel_address: str = "127.0.0.1"
    # What the store URL came from, for the start-up log ("--store", "component 'x' (file)" …).
    store_source: str = "default"
    # Per node: at most this many workflow turns / activities sent to workers at once (0: no limit).
    max_concurrent_workflows: int = 0
    max_concurrent_activities: int = 0
    # Seconds a terminal instance is kept before it is purged, by status name; "any" for every
    # terminal status (a specific status wins). Empty: kept until purged by hand.
    retention_seconds: tuple[tuple[str, float], ...] = ()
    # A start of an ID whose instance is still running: False returns the running instance (the
    # seed tutorials' idempotent start), True refuses it as daprd does.
    refuse_duplicate_start: bool = False
    # Tracing (from a Dapr Configuration's spec.tracing) for the telemetry exporter.
    tracing_sampling_rate: float | None = None
    tracing_endpoint: str | None = None
    tracing_protocol: str | None = None
    tracing_secure: bool = True

    def __post_init__(self) -> None:
        for key in ("grpc_port", "http_port", "app_port"):
            value = getattr(self, key)
            if not 0 <= value <= 65535:
                raise ConfigError(f"{key}: {value} is not a TCP port (0-65535; 0 picks a free one)")
        if not self.app_id or any(c.isspace() for c in self.app_id):
            raise ConfigError(f"app_id: {self.app_id!r} must be a non-empty name without spaces")
        if self.health_ping_seconds <= 0:
            raise ConfigError(
                f"health_ping_seconds: {self.health_ping_seconds} must be a positive "
                "number of seconds"
            )
        if not 0 <= self.start_wait_seconds <= 3600:
            raise ConfigError(
                f"start_wait_seconds: {self.start_wait_seconds} must be between 0 and 3600 seconds"
            )
        for key in ("max_concurrent_workflows", "max_concurrent_activities"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: {getattr(self, key)} must be 0 (no limit) or more")
        if self.app_protocol not in APP_PROTOCOLS:
            raise ConfigError(
                f"app_protocol: {self.app_protocol!r} is not one of {', '.join(APP_PROTOCOLS)}"
            )
        if self.max_payload_bytes < 1024:
            raise ConfigError(f"max_payload_bytes: {self.max_payload_bytes} is too small")

    def retention_for(self, status_name: str) -> float | None:
        """Seconds an instance that ended with ``status_name`` is kept; None: kept."""
        table = dict(self.retention_seconds)
        return table.get(status_name, table.get("any"))


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number of seconds") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not true or false")
