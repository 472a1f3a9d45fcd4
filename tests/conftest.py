"""Shared fixtures: a real tether on a temporary SQLite file, and the official Dapr SDK (worker
and client) pointed at it.

The conformance suite runs every test body through both doors into the engine: ``sidecar`` (a
``tether serve`` subprocess, the SDK over gRPC) and ``embedded`` (the engine inside this process,
``tether.embedded``'s runtime and client, the node also serving the gRPC port so raw protocol
calls in the tests reach it). Embedded runs check every sticky turn against a full replay
(``TETHER_STICKY_VERIFY=0`` turns that off). Tests about gRPC wire details are sidecar-only:
see ``SIDECAR_ONLY`` in ``tests/conformance/_support.py``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# pytest rewrites every module of a plugin's distribution (all of hypothesis) when it is first
# imported. On CPython 3.11.7 a failed AST build elsewhere in the process can leave the AST
# recursion counter wrong (fixed in 3.11.8), and a rewrite during a test then fails with
# "AST constructor recursion depth mismatch". Import hypothesis's one lazily loaded module now,
# at collection, so no rewrite happens mid-test.
import hypothesis.internal.conjecture.optimiser  # noqa: F401
import pytest

from tests.conformance._support import DOORS, EmbeddedDoor, door_for
from tether.testing import SidecarProcess


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "door" in metafunc.fixturenames:
        doors = door_for(metafunc.definition.nodeid, DOORS)
        if len(doors) > 1:  # sidecar-only tests keep their plain IDs
            metafunc.parametrize("door", doors, indirect=True)


@pytest.fixture
def door(request: pytest.FixtureRequest) -> str:
    """Which way the SDK reaches the engine: "sidecar" (gRPC) or "embedded" (in-process)."""
    return getattr(request, "param", "sidecar")


@pytest.fixture
def sidecar(tmp_path: Path, door: str) -> Iterator[SidecarProcess | EmbeddedDoor]:
    proc: SidecarProcess | EmbeddedDoor
    if door == "embedded":
        proc = EmbeddedDoor(tmp_path / "tether.db", app_id="testapp").start()
    else:
        proc = SidecarProcess(tmp_path / "tether.db", app_id="testapp").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def wf_runtime(sidecar: SidecarProcess | EmbeddedDoor) -> Iterator[Callable[..., Any]]:
    """Build a ``WorkflowRuntime`` against the sidecar; call ``.start()`` after registering.
    Every runtime made is shut down at the end of the test."""
    import dapr.ext.workflow as wf

    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        if isinstance(sidecar, EmbeddedDoor):
            runtime = sidecar.runtime(**kwargs)
        else:
            runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port), **kwargs)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        with contextlib.suppress(Exception):
            runtime.shutdown()
    if isinstance(sidecar, EmbeddedDoor):
        sidecar.assert_sticky_matched_replay()


@pytest.fixture
def wf_client(sidecar: SidecarProcess | EmbeddedDoor) -> Iterator[Any]:
    import dapr.ext.workflow as wf

    if isinstance(sidecar, EmbeddedDoor):
        client = sidecar.client()
        yield client
        client.close()
    else:
        yield wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
