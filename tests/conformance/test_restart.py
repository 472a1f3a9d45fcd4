"""tether restarts with work outstanding (engine-semantics §8 item 38): timers, pending activities,
in-flight turns and queued events are neither lost nor duplicated.

The new process reuses the store, the home folder and the gRPC port, so the SDK worker simply
reconnects, as it would to a restarted daprd.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.conformance._support import FakeWorker, Raw, complete, kinds
from tests.conftest import wait_until
from tether import pb
from tether.testing import SidecarProcess


@pytest.fixture
def restartable(store_location: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """A sidecar that can be restarted on the same store and port: ``box["restart"](kill=...)``."""
    first = SidecarProcess(store_location, app_id="testapp", home=tmp_path / "tether-home").start()
    port = first.grpc_port
    box: dict[str, Any] = {"sidecar": first, "port": port}

    def restart(kill: bool = False) -> SidecarProcess:
        old = box["sidecar"]
        if kill:
            old.kill()
        else:
            old.stop()
        fresh = SidecarProcess(
            old.store, app_id=old.app_id, home=old.home, extra_args=["--grpc-port", str(port)]
        ).start()
        assert fresh.grpc_port == port
        box["sidecar"] = fresh
        return fresh

    box["restart"] = restart
    try:
        yield box
    finally:
        box["sidecar"].stop()


def test_restart_keeps_timers_and_pending_activities(restartable: dict[str, Any]) -> None:
    port = restartable["port"]
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))
    gate = threading.Event()
    runs: list[str] = []

    @runtime.workflow(name="sleepy")
    def sleepy(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.create_timer(timedelta(seconds=3))
        return "woke"

    @runtime.workflow(name="worky")
    def worky(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        result = yield ctx.call_activity(block)
        return result

    @runtime.activity(name="block")
    def block(ctx: wf.WorkflowActivityContext, _: Any) -> str:
        runs.append("run")
        if len(runs) == 1:
            gate.wait(30)
            return "first attempt"
        return "second attempt"

    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
    try:
        t0 = time.monotonic()
        sleeper = client.schedule_new_workflow(sleepy, instance_id="sleeper")
        worker_id = client.schedule_new_workflow(worky, instance_id="worker")
        wait_until(lambda: len(runs) == 1)
        raw = Raw(port)
        wait_until(lambda: "timerCreated" in kinds(raw.history(sleeper)))
        raw.close()

        restartable["restart"](kill=False)

        done = client.wait_for_workflow_completion(worker_id, timeout_in_seconds=60)
        assert done.serialized_output == '"second attempt"'
        gate.set()  # the first attempt now reports late: it must be dropped
        done = client.wait_for_workflow_completion(sleeper, timeout_in_seconds=60)
        assert done.serialized_output == '"woke"'
        assert time.monotonic() - t0 >= 3
        raw = Raw(port)
        assert kinds(raw.history(sleeper)).count("timerFired") == 1
        time.sleep(0.5)
        assert kinds(raw.history(worker_id)).count("taskCompleted") == 1
        assert kinds(raw.history(worker_id)).count("taskScheduled") == 1
        raw.close()
    finally:
        gate.set()
        runtime.shutdown()
        client.close()


def test_restart_with_inflight_turn_and_queued_events(restartable: dict[str, Any]) -> None:
    port = restartable["port"]
    raw = Raw(port)
    raw.start("wf", "q38")
    worker = FakeWorker(port)
    stale = worker.turn()  # in flight, never answered before the crash
    for name in ("e1", "e2", "e3"):
        raw.call("RaiseEvent", pb.RaiseEventRequest(instanceId="q38", name=name))
    raw.close()
    worker.close()

    restartable["restart"](kill=True)

    raw = Raw(port)
    worker = FakeWorker(port)
    turn = worker.turn()
    assert turn.completionToken != stale.completionToken
    new_events = list(turn.workflowRequest.newEvents)
    assert kinds(new_events)[:2] == ["workflowStarted", "executionStarted"]
    assert [e.eventRaised.name for e in new_events if e.HasField("eventRaised")] == [
        "e1",
        "e2",
        "e3",
    ]
    worker.respond(stale, complete(1, '"stale"'))  # the pre-crash token is dead
    worker.no_item(0.3)
    worker.respond(turn, complete(1, '"fresh"'))
    wait_until(lambda: raw.status("q38") == "COMPLETED")
    assert raw.state("q38").output.value == '"fresh"'
    history = kinds(raw.history("q38"))
    assert history.count("executionStarted") == 1 and history.count("eventRaised") == 3
    worker.close()
    raw.close()
