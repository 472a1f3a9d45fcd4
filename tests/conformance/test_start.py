"""StartInstance while a worker is connected: the call waits for the workflow's first step (as
Dapr does), and tether stores the creation together with that step, in one commit.

The test acts as the worker, so it decides when the first step comes back. A start that has not
returned is not visible yet; one whose first step is slow is stored on its own after the
start-wait; one whose caller gave up is dropped; starts of one ID are decided one after another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conformance._support import FakeWorker, Raw, complete, create_timer, kinds, rpc_code
from tests.conftest import wait_until
from tether import pb
from tether.testing import SidecarProcess


def _sidecar(store: Any, tmp_path: Path, start_wait: str) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(
        store,
        app_id="testapp",
        home=tmp_path / "tether-home",
        extra_args=["--start-wait", start_wait],
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def patient(store_location: Any, tmp_path: Path) -> Iterator[SidecarProcess]:
    """A sidecar whose starts wait up to a minute for the first step."""
    yield from _sidecar(store_location, tmp_path, "60")


@pytest.fixture
def hasty(store_location: Any, tmp_path: Path) -> Iterator[SidecarProcess]:
    """A sidecar whose starts wait only half a second for the first step."""
    yield from _sidecar(store_location, tmp_path, "0.5")


def test_start_returns_with_its_first_step_stored(patient: SidecarProcess) -> None:
    raw = Raw(patient.grpc_port)
    worker = FakeWorker(patient.grpc_port)
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(raw.start, "wf", "one", '"in"')
        item = worker.turn()
        assert kinds(list(item.workflowRequest.newEvents)) == [
            "workflowStarted",
            "executionStarted",
        ]
        # The start has not returned, so nothing about it is visible yet.
        assert raw.state("one") is None
        assert not started.done()
        worker.respond(item, complete(1, '"out"'))
        assert started.result(timeout=10) == "one"
    state = raw.state("one")
    assert state.workflowStatus == pb.COMPLETED
    assert (state.input.value, state.output.value) == ('"in"', '"out"')
    assert kinds(raw.history("one")) == [
        "workflowStarted",
        "executionStarted",
        "executionCompleted",
    ]
    worker.close()


def test_slow_first_step_is_stored_after_the_start_wait(hasty: SidecarProcess) -> None:
    raw = Raw(hasty.grpc_port)
    worker = FakeWorker(hasty.grpc_port)
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(raw.start, "wf", "slow")
        item = worker.turn()
        assert started.result(timeout=10) == "slow"
    assert raw.status("slow") == "PENDING"  # stored, its first step still out
    worker.respond(item, complete(1, '"late"'))
    wait_until(lambda: raw.status("slow") == "COMPLETED")
    assert raw.state("slow").output.value == '"late"'
    worker.close()


def test_start_abandoned_by_its_caller_is_dropped(patient: SidecarProcess) -> None:
    raw = Raw(patient.grpc_port)
    worker = FakeWorker(patient.grpc_port)
    request = pb.CreateInstanceRequest(name="wf", instanceId="gone")
    code = rpc_code(lambda: raw.call("StartInstance", request, timeout=0.5))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    abandoned = worker.turn()
    with ThreadPoolExecutor(1) as pool:
        # A new start of the ID is decided once the abandoned one is dropped: it gets its own turn.
        again = pool.submit(raw.start, "wf", "gone", '"second"')
        fresh = worker.turn()
        assert fresh.completionToken != abandoned.completionToken
        worker.respond(abandoned, complete(1, '"first"'))  # stale: discarded
        worker.respond(fresh, complete(1, '"second"'))
        assert again.result(timeout=10) == "gone"
    state = raw.state("gone")
    assert (state.workflowStatus, state.output.value) == (pb.COMPLETED, '"second"')
    worker.close()


def test_concurrent_starts_of_one_id_are_decided_in_turn(patient: SidecarProcess) -> None:
    raw = Raw(patient.grpc_port)
    worker = FakeWorker(patient.grpc_port)
    far = time.time_ns() + 3600 * 10**9
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(raw.start, "wf", "same")
        item = worker.turn()
        same_name = pool.submit(raw.start, "wf", "same")
        other_name = pool.submit(rpc_code, lambda: raw.start("other", "same"))
        worker.respond(item, create_timer(1, far))
        assert first.result(timeout=10) == "same"
        assert same_name.result(timeout=10) == "same"  # idempotent: the running instance
        assert other_name.result(timeout=10) == grpc.StatusCode.ALREADY_EXISTS
    assert raw.status("same") == "RUNNING"
    assert kinds(raw.history("same")) == ["workflowStarted", "executionStarted", "timerCreated"]
    worker.no_item(within=0.3)  # one instance, one turn
    worker.close()
