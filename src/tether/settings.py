"""One frozen, typed settings object: CLI flags, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tether.errors import ConfigError
from tether.store.factory import default_store_url

DEFAULT_APP_ID = "tether"
MiB = 1024 * 1024


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
        if self.max_payload_bytes < 1024:
            raise ConfigError(f"max_payload_bytes: {self.max_payload_bytes} is too small")


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
