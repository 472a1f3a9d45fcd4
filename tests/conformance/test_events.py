"""External events, suspend/resume, custom status and turn timestamps (engine-semantics §8).

Items covered here: 1, 2, 3, 6, 7, 8, 20, 21.
Item 5 is test_patterns.test_external_event_with_timeout.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf

from tests.conformance._support import Raw, kinds
from tether import pb

W = wf.WorkflowStatus


def _collector(runtime: Any) -> Any:
    @runtime.workflow(name="collect")
    def collect(ctx: wf.DaprWorkflowContext, names: list[str]) -> Any:
        values = []
        for name in names:
            value = yield ctx.wait_for_external_event(name)
            values.append(value)
        return values

    return collect


def test_event_raised_before_start(wf_runtime: Any, wf_client: Any) -> None:
    """§8.1: events raised before the first turn (no worker yet; PENDING with a future start) are
    delivered after executionStarted and satisfy the first matching wait."""
    runtime = wf_runtime()
    collect = _collector(runtime)
    # No worker connected yet: StartInstance returns at once and the instance stays PENDING.
    early = wf_client.schedule_new_workflow(collect, input=["go"])
    assert wf_client.get_workflow_state(early).runtime_status == W.PENDING
    wf_client.raise_workflow_event(early, "go", data="before-worker")
    scheduled = wf_client.schedule_new_workflow(
        collect, input=["go"], start_at=datetime.now(UTC) + timedelta(seconds=2)
    )
    wf_client.raise_workflow_event(scheduled, "go", data="before-start")
    runtime.start()
    done = wf_client.wait_for_workflow_completion(early, timeout_in_seconds=30)
    assert done.serialized_output == '["before-worker"]'
    assert wf_client.get_workflow_state(scheduled).runtime_status == W.PENDING
    done = wf_client.wait_for_workflow_completion(scheduled, timeout_in_seconds=30)
    assert done.serialized_output == '["before-start"]'
    events = wf_client.get_workflow_history(scheduled)
    types = [e.event_type for e in events]
    T = wf.WorkflowHistoryEventType
    assert types.index(T.EXECUTION_STARTED) < types.index(T.EVENT_RAISED)


def test_three_events_back_to_back(wf_runtime: Any, wf_client: Any) -> None:
    """§8.2: A, B, C raised right after start → [a, b, c]."""
    runtime = wf_runtime()
    collect = _collector(runtime)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(collect, input=["A", "B", "C"])
    for name in ("A", "B", "C"):
        wf_client.raise_workflow_event(instance_id, name, data=name.lower())
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == '["a", "b", "c"]'


def test_same_name_events_fifo_case_insensitive(wf_runtime: Any, wf_client: Any) -> None:
    """§8.3: same-name events are consumed FIFO; names match case-insensitively."""
    runtime = wf_runtime()
    collect = _collector(runtime)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(collect, input=["go", "go", "go", "other"])
    wf_client.raise_workflow_event(instance_id, "GO", data=1)
    wf_client.raise_workflow_event(instance_id, "go", data=2)
    wf_client.raise_workflow_event(instance_id, "Go", data=3)
    wf_client.raise_workflow_event(instance_id, "OTHER", data=4)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == "[1, 2, 3, 4]"


def test_indefinite_wait_sentinel_timer(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.6: an indefinite wait records the sentinel timer, never fires it, no overflow; the event
    completes the instance."""
    runtime = wf_runtime()

    @runtime.workflow(name="forever")
    def forever(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        value = yield ctx.wait_for_external_event("done")
        return value

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(forever)
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    raw = Raw(sidecar.grpc_port)
    history = raw.history(instance_id)
    timers = [e for e in history if e.HasField("timerCreated")]
    if timers:  # the SDK version in use schedules the sentinel timer
        assert timers[0].timerCreated.fireAt.seconds == pb.SENTINEL_SECONDS
    wf_client.raise_workflow_event(instance_id, "done", data="finally")
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == '"finally"'
    assert "timerFired" not in kinds(raw.history(instance_id))
    raw.close()


def test_suspend_holds_events_until_resume(wf_runtime: Any, wf_client: Any) -> None:
    """§8.7: SUSPENDED; an event raised while suspended does not complete it (3 s);
    resume → completes with the event's payload."""
    runtime = wf_runtime()
    collect = _collector(runtime)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(collect, input=["go"])
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    wf_client.pause_workflow(instance_id)
    assert wf_client.get_workflow_state(instance_id).runtime_status == W.SUSPENDED
    wf_client.raise_workflow_event(instance_id, "go", data="held")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert wf_client.get_workflow_state(instance_id).runtime_status == W.SUSPENDED
        time.sleep(0.2)
    wf_client.resume_workflow(instance_id)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.runtime_status == W.COMPLETED
    assert done.serialized_output == '["held"]'


def test_redundant_resume_and_suspend_are_noops(wf_runtime: Any, wf_client: Any) -> None:
    """§8.8: resume of a RUNNING instance, and a second resume, must not fail the workflow."""
    runtime = wf_runtime()
    collect = _collector(runtime)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(collect, input=["go"])
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    wf_client.resume_workflow(instance_id)
    wf_client.pause_workflow(instance_id)
    wf_client.pause_workflow(instance_id)
    wf_client.resume_workflow(instance_id)
    wf_client.resume_workflow(instance_id)
    assert wf_client.get_workflow_state(instance_id).runtime_status == W.RUNNING
    wf_client.raise_workflow_event(instance_id, "go", data="ok")
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.runtime_status == W.COMPLETED and done.serialized_output == '["ok"]'
    T = wf.WorkflowHistoryEventType
    types = [e.event_type for e in wf_client.get_workflow_history(instance_id)]
    assert types.count(T.EXECUTION_SUSPENDED) == 1 and types.count(T.EXECUTION_RESUMED) == 1


def test_custom_status_generatorless_and_absent(wf_runtime: Any, wf_client: Any) -> None:
    """§8.20: custom status set by a workflow that never yields is visible after completion; a
    workflow that sets none reports none (absent, not empty)."""
    runtime = wf_runtime()

    @runtime.workflow(name="plain")
    def plain(ctx: wf.DaprWorkflowContext, x: int) -> int:
        ctx.set_custom_status({"stage": "done"})
        return x + 1

    @runtime.workflow(name="silent")
    def silent(ctx: wf.DaprWorkflowContext, x: int) -> int:
        return x

    runtime.start()
    a = wf_client.schedule_new_workflow(plain, input=1)
    b = wf_client.schedule_new_workflow(silent, input=1)
    done = wf_client.wait_for_workflow_completion(a, timeout_in_seconds=30)
    assert done.serialized_output == "2"
    assert done.serialized_custom_status == '{"stage": "done"}'
    assert (
        wf_client.wait_for_workflow_completion(b, timeout_in_seconds=30).serialized_custom_status
        is None
    )


def test_now_with_sequence_increases_across_turns(
    wf_runtime: Any, wf_client: Any, sidecar: Any
) -> None:
    """§8.21: now_with_sequence() strictly increases across turns; so do workflowStarted
    timestamps."""
    runtime = wf_runtime()

    @runtime.workflow(name="clock")
    def clock(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        stamps = [ctx.now_with_sequence().isoformat(), ctx.now_with_sequence().isoformat()]
        for _ in range(3):
            yield ctx.call_activity(noop)
            stamps.append(ctx.now_with_sequence().isoformat())
        return stamps

    @runtime.activity(name="noop")
    def noop(ctx: wf.WorkflowActivityContext, _: Any) -> None:
        return None

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(clock)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    import json

    stamps = json.loads(done.serialized_output)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    raw = Raw(sidecar.grpc_port)
    starts = [
        e.timestamp.ToNanoseconds()
        for e in raw.history(instance_id)
        if e.HasField("workflowStarted")
    ]
    assert len(starts) == 4 and all(a < b for a, b in itertools.pairwise(starts))
    raw.close()
