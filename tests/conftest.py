"""Shared fixtures: a real ``tether serve`` subprocess on a temporary SQLite file, and the
official Dapr SDK (worker and client) pointed at it."""

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

from tether.testing import SidecarProcess


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(tmp_path / "tether.db", app_id="testapp").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def wf_runtime(sidecar: SidecarProcess) -> Iterator[Callable[..., Any]]:
    """Build a ``WorkflowRuntime`` against the sidecar; call ``.start()`` after registering.
    Every runtime made is shut down at the end of the test."""
    import dapr.ext.workflow as wf

    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port), **kwargs)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        with contextlib.suppress(Exception):
            runtime.shutdown()


@pytest.fixture
def wf_client(sidecar: SidecarProcess) -> Any:
    import dapr.ext.workflow as wf

    return wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))


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
