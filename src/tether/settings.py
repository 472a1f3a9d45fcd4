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
    # A node's lease on its instances and tasks, judged by the store's clock: a node that has
    # not renewed it for this long loses its work to a live node of its app. Also
    # $TETHER_NODE_LEASE_SECONDS. 15 s: a busy or briefly stalled store (a long fsync, a lock
    # held by a checkpoint) must not cost every instance its owner, while a crashed node's work
    # still moves on within seconds (on one host, a node whose process is gone at once).
    node_lease_seconds: float = field(
        default_factory=lambda: env_float("TETHER_NODE_LEASE_SECONDS", 15.0)
    )
    # How often the lease is renewed (and dead owners' work claimed); a fifth of the lease
    # unless $TETHER_HEARTBEAT_SECONDS says otherwise.
    heartbeat_seconds: float = field(
        default_factory=lambda: env_float("TETHER_HEARTBEAT_SECONDS", 0.0)
    )
    # Instances (and tasks) claimed in one transaction.
    claim_batch: int = 256
    # Attempts of a failing commit (with back-off) before its instance is reloaded.
    write_attempts: int = 5
    health_ping_seconds: float = 30.0
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        for key in ("grpc_port", "http_port"):
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
        if not 0.5 <= self.node_lease_seconds <= 3600:
            raise ConfigError(
                f"node_lease_seconds: {self.node_lease_seconds} must be between 0.5 and 3600 "
                "seconds ($TETHER_NODE_LEASE_SECONDS)"
            )
        if self.heartbeat_seconds <= 0:
            object.__setattr__(self, "heartbeat_seconds", self.node_lease_seconds / 5)
        if self.heartbeat_seconds >= self.node_lease_seconds - self.lease_margin_seconds:
            raise ConfigError(
                f"heartbeat_seconds: {self.heartbeat_seconds} must be well below the lease "
                f"({self.node_lease_seconds} s less a {self.lease_margin_seconds} s margin)"
            )
        if self.max_payload_bytes < 1024:
            raise ConfigError(f"max_payload_bytes: {self.max_payload_bytes} is too small")

    @property
    def lease_margin_seconds(self) -> float:
        """How much earlier than the store's expiry a node stops acting on its lease: covers
        clock-rate drift between hosts and the time a renewal takes to be decided."""
        return self.node_lease_seconds / 5


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
