"""Lease takeovers on ``/metrics``: ``tether serve`` nodes of one app on one store (a SQLite file,
or PostgreSQL), one killed with instances; the survivor counts what it took over apart from
first claims."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tests.telemetry.test_metrics import Samples, scrape, value
from tether import pb
from tether.testing import SidecarProcess

APP = "testapp"
CLAIMS = "tether_instance_claims_total"
TAKEOVERS = "tether_lease_takeovers_total"


def _node(store: Any, tmp_path: Path, app_id: str, name: str) -> SidecarProcess:
    return SidecarProcess(
        store,
        app_id=app_id,
        home=tmp_path / name / "home",
        # The default lease (15 s): a node is not cut off by a loaded machine mid-test. A killed
        # node's work moves on at the next heartbeat anyway (its process is seen gone).
        env={"TETHER_START_WAIT_SECONDS": "0"},
        log_path=tmp_path / f"tether-{name}.log",
    )


def _start_waiters(port: int, ids: list[str], target_app: str | None = None) -> None:
    """Start instances no worker runs (nothing is connected): they stay non-terminal."""
    raw = Raw(port)
    try:
        for instance_id in ids:
            request = pb.CreateInstanceRequest(name="waiter", instanceId=instance_id)
            if target_app is not None:
                request.router.targetAppID = target_app
            raw.call("StartInstance", request)
    finally:
        raw.close()


def _scrape_when(port: int, name: str, at_least: float) -> Samples:
    def ready() -> Samples | None:
        samples = scrape(port)
        return samples if value(samples, name) >= at_least else None

    found: Samples = wait_until(ready, timeout=60)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_survivor_counts_a_killed_nodes_instances_as_takeovers(
    store_location: Any, tmp_path: Path
) -> None:
    front = _node(store_location, tmp_path, "front", "front").start()
    try:  # another app's node starts three for testapp: stored with no owner
        _start_waiters(front.grpc_port, [f"new-{i}" for i in range(3)], target_app=APP)
    finally:
        front.stop()
    first = _node(store_location, tmp_path, APP, "a").start()
    second: SidecarProcess | None = None
    try:
        # Claiming work nobody owned is not a takeover (the series is there, at zero).
        fresh = _scrape_when(first.http_port, CLAIMS, 3)
        assert value(fresh, CLAIMS) == 3
        assert (TAKEOVERS, frozenset({("app_id", APP)})) in fresh
        assert value(fresh, TAKEOVERS) == 0
        # Nor is starting instances of its own.
        _start_waiters(first.grpc_port, [f"mine-{i}" for i in range(4)])
        own = scrape(first.http_port)
        assert value(own, "tether_instances_active", app_id=APP) == 7
        assert value(own, CLAIMS) == 3
        assert value(own, TAKEOVERS) == 0

        second = _node(store_location, tmp_path, APP, "b").start()
        joined = scrape(second.http_port)  # everything has a live owner: nothing to claim
        assert value(joined, CLAIMS) == 0
        assert value(joined, TAKEOVERS) == 0
        first.kill()
        # Every instance the killed node held, each a takeover. (A node itself cut off later
        # rejoins under a new id and takes its own instances over again: more, never fewer.)
        after = _scrape_when(second.http_port, TAKEOVERS, 7)
        assert value(after, CLAIMS) == value(after, TAKEOVERS) >= 7
        held = _scrape_when(second.http_port, "tether_instances_active", 7)  # loaded after
        assert value(held, "tether_instances_active", app_id=APP) == 7
    finally:
        with contextlib.suppress(Exception):
            first.stop()
        if second is not None:
            second.stop()
