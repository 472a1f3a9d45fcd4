"""Spans of workflow executions, in process: tether's spans and the SDK worker's, one exporter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dapr.ext.workflow as wf
import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.conformance._support import SERVICE, Raw
from tests.telemetry.conftest import wait_for_workflow_span
from tests.telemetry.workflows import ATTEMPTS_BEFORE_SUCCESS
from tether import pb

W = wf.WorkflowStatus


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _sdk_spans(exporter: InMemorySpanExporter, parent_ids: set[int]) -> list[ReadableSpan]:
    """The spans the SDK worker opened around activity code under the given tether spans."""
    return [
        s
        for s in exporter.get_finished_spans()
        if s.name.startswith("activity: ") and _parent(s) in parent_ids
    ]


def _run(client: Any, name: str, value: Any = None, instance_id: str | None = None) -> str:
    iid: str = client.schedule_new_workflow(name, input=value, instance_id=instance_id)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None
    return iid


def test_chain_has_one_execution_span_with_an_activity_span_per_step(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "chain", 1)
    found = wait_for_workflow_span(spans, iid)
    root = _one(found, "workflow||chain")
    trace_id, root_id = _ids(root)
    assert root.parent is None
    assert root.attributes is not None
    assert root.attributes["workflow.status"] == "COMPLETED"
    assert root.attributes["workflow.app_id"] == "testapp"
    steps = [s for s in found if s.name == "activity||step"]
    assert len(steps) == 2
    assert {_parent(s) for s in steps} == {root_id}
    assert all(_ids(s)[0] == trace_id for s in steps)
    starts = sorted(s.start_time or 0 for s in steps)
    assert root.start_time is not None and root.end_time is not None
    assert root.start_time <= starts[0] and (steps[1].end_time or 0) <= root.end_time
    # The SDK worker's own span around the user's activity code hangs under tether's.
    step_ids = {_ids(s)[1] for s in steps}
    sdk = _wait_sdk(spans, step_ids, 2)
    assert {s.context.trace_id for s in sdk if s.context} == {trace_id}


def _wait_sdk(exporter: InMemorySpanExporter, parents: set[int], n: int) -> list[ReadableSpan]:
    from tests.conftest import wait_until

    result: list[ReadableSpan] = wait_until(
        lambda: found if len(found := _sdk_spans(exporter, parents)) >= n else None
    )
    return result


def test_fan_out_spans_are_siblings(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "fanout", 4)
    found = wait_for_workflow_span(spans, iid)
    root = _one(found, "workflow||fanout")
    steps = [s for s in found if s.name == "activity||step"]
    assert len(steps) == 4
    assert {_parent(s) for s in steps} == {_ids(root)[1]}
    assert len({(s.attributes or {})["workflow.task_id"] for s in steps}) == 4


def test_child_workflow_execution_hangs_under_the_parents_child_span(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "parent", 5)
    parent_spans = wait_for_workflow_span(spans, iid)
    child_spans = wait_for_workflow_span(spans, f"{iid}-c")
    root = _one(parent_spans, "workflow||parent")
    call = _one(parent_spans, "child_workflow||chain")
    child = _one(child_spans, "workflow||chain")
    trace_id, root_id = _ids(root)
    assert _parent(call) == root_id
    assert _parent(child) == _ids(call)[1]
    assert {_ids(s)[0] for s in [call, child, *child_spans]} == {trace_id}
    steps = [s for s in child_spans if s.name == "activity||step"]
    assert len(steps) == 2 and {_parent(s) for s in steps} == {_ids(child)[1]}


def test_each_retry_attempt_is_its_own_span(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "retrying")
    found = wait_for_workflow_span(spans, iid)
    attempts = sorted(
        (s for s in found if s.name == "activity||flaky"),
        key=lambda s: (s.attributes or {})["workflow.activity.attempt"],
    )
    assert [(s.attributes or {})["workflow.activity.attempt"] for s in attempts] == [
        1,
        2,
        3,
    ]
    failed = attempts[:ATTEMPTS_BEFORE_SUCCESS]
    assert all(s.status.status_code == StatusCode.ERROR for s in failed)
    assert all("attempt" in (s.status.description or "") for s in failed)
    assert attempts[-1].status.status_code == StatusCode.UNSET
    assert {_parent(s) for s in attempts} == {_ids(_one(found, "workflow||retrying"))[1]}
    assert not [s for s in found if s.name == "timer"]  # retry delays show as gaps, not timers


def test_timer_span_runs_until_the_timer_fired(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "sleeper")
    found = wait_for_workflow_span(spans, iid)
    timer = _one(found, "timer")
    assert _parent(timer) == _ids(_one(found, "workflow||sleeper"))[1]
    fire_at = (timer.attributes or {})["workflow.timer.fire_at_ns"]
    assert isinstance(fire_at, int)
    # It fires no earlier than its fire time; its creation may come after that time when the
    # turn that created it took longer than the (50 ms) delay it was computed with.
    assert (timer.start_time or 0) <= (timer.end_time or 0)
    assert fire_at <= (timer.end_time or 0)


def test_external_event_wait_and_failure_are_recorded(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = client.schedule_new_workflow("waiter")
    client.wait_for_workflow_start(iid, timeout_in_seconds=30)
    client.raise_workflow_event(iid, "go", data="now")
    client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    found = wait_for_workflow_span(spans, iid)
    event = _one(found, "event||go")
    root = _one(found, "workflow||waiter")
    assert _parent(event) == _ids(root)[1]
    assert (root.start_time or 0) <= (event.start_time or 0) <= (event.end_time or 0)

    failed = _run(client, "failing")
    run = _one(wait_for_workflow_span(spans, failed), "workflow||failing")
    assert run.status.status_code == StatusCode.ERROR
    assert "kaput" in (run.status.description or "")
    assert (run.attributes or {})["workflow.status"] == "FAILED"


def test_continue_as_new_executions_link_to_the_one_before(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    _, client = traced()
    iid = _run(client, "looper", 0)
    runs = [s for s in wait_for_workflow_span(spans, iid, 3) if s.name == "workflow||looper"]
    assert len(runs) == 3
    assert len({_ids(s)[0] for s in runs}) == 1  # one trace
    by_id = {_ids(s)[1]: s for s in runs}
    first = [s for s in runs if s.parent is None]
    assert len(first) == 1
    statuses = sorted((s.attributes or {})["workflow.status"] for s in runs)
    assert statuses == ["COMPLETED", "CONTINUED_AS_NEW", "CONTINUED_AS_NEW"]
    for span in runs:
        if span.parent is None:
            continue
        assert _parent(span) in by_id
        assert [link.context.span_id for link in span.links] == [_parent(span)]


CALLER_TRACE, CALLER_SPAN = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
CALLER = f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01"


def _call_with_metadata(raw: Raw, method: str, request: Any, traceparent: str) -> Any:
    """A unary call whose trace context travels as call metadata (what OpenTelemetry's gRPC
    client instrumentation sends), not in a request field."""
    fn = raw.channel.unary_unary(
        SERVICE + method,
        request_serializer=type(request).SerializeToString,
        response_deserializer=lambda b: b,
    )
    return fn(request, metadata=(("traceparent", traceparent),), timeout=30)


def _start_chain(raw: Raw, client: Any, instance_id: str, traceparent: str | None = None) -> None:
    """Start ``chain`` (traceparent in the request's field) and wait for it to finish."""
    request = pb.CreateInstanceRequest(name="chain", instanceId=instance_id)
    request.input.value = "1"
    if traceparent is not None:
        request.parentTraceContext.traceParent = traceparent
    raw.call("StartInstance", request)
    client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)


def _assert_joins_the_caller(spans: InMemorySpanExporter, instance_id: str) -> None:
    """The execution hangs under the caller's span, and so (through tether's activity spans)
    do the SDK's spans around both steps of ``chain``."""
    found = wait_for_workflow_span(spans, instance_id)
    root = _one(found, "workflow||chain")
    assert _ids(root)[0] == CALLER_TRACE
    assert _parent(root) == CALLER_SPAN
    steps = [s for s in found if s.name == "activity||step"]
    assert len(steps) == 2 and {_ids(s)[0] for s in steps} == {CALLER_TRACE}
    sdk = _wait_sdk(spans, {_ids(s)[1] for s in steps}, 2)
    assert {s.context.trace_id for s in sdk if s.context} == {CALLER_TRACE}


def test_a_start_with_a_traceparent_joins_that_trace(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    sidecar, client = traced()
    raw = Raw(sidecar.grpc_port)
    _start_chain(raw, client, "traced-grpc", CALLER)
    bare = pb.CreateInstanceRequest(name="chain", instanceId="traced-metadata")
    bare.input.value = "1"
    _call_with_metadata(raw, "StartInstance", bare, CALLER)
    client.wait_for_workflow_completion("traced-metadata", timeout_in_seconds=30)
    raw.close()
    http = httpx.post(
        f"http://127.0.0.1:{sidecar.http_port}/v1.0/workflows/dapr/chain/start",
        params={"instanceID": "traced-http"},
        content="1",
        headers={"traceparent": CALLER},
    )
    assert http.status_code == 202, http.text
    client.wait_for_workflow_completion("traced-http", timeout_in_seconds=30)
    for iid in ("traced-grpc", "traced-metadata", "traced-http"):
        _assert_joins_the_caller(spans, iid)


def test_a_rerun_with_a_traceparent_joins_that_trace_not_the_sources(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    sidecar, client = traced()
    source_trace = 0x11111111111111111111111111111111
    raw = Raw(sidecar.grpc_port)
    _start_chain(raw, client, "rerun-source", f"00-{source_trace:032x}-{0x22:016x}-01")
    # eventID 1 schedules the first step: the rerun dispatches it itself, and a turn of the
    # new execution schedules the second. The gRPC request has no trace field: metadata.
    for new_id, traceparent in (("rerun-grpc", CALLER), ("bare", None)):
        request = pb.RerunWorkflowFromEventRequest(
            sourceInstanceID="rerun-source", eventID=1, newInstanceID=new_id
        )
        if traceparent is None:
            raw.call("RerunWorkflowFromEvent", request)
        else:
            _call_with_metadata(raw, "RerunWorkflowFromEvent", request, traceparent)
    raw.close()
    http = httpx.post(
        f"http://127.0.0.1:{sidecar.http_port}/tether/v1/instances/rerun-source/rerun",
        json={"eventID": 1, "newInstanceID": "rerun-http"},
        headers={"traceparent": CALLER},
    )
    assert http.status_code == 202, http.text
    for iid in ("rerun-grpc", "rerun-http"):
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        _assert_joins_the_caller(spans, iid)
    # Without a traceparent a rerun is a trace root of its own, not a part of the source's.
    client.wait_for_workflow_completion("bare", timeout_in_seconds=30)
    bare = _one(wait_for_workflow_span(spans, "bare"), "workflow||chain")
    assert bare.parent is None
    assert _ids(bare)[0] not in (source_trace, CALLER_TRACE)


def test_unsampled_traces_export_nothing(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    sidecar, client = traced(tracing_sampling_rate=0.0)
    quiet = _run(client, "chain", 1)
    raw = Raw(sidecar.grpc_port)
    _start_chain(raw, client, "sampled-by-caller", f"00-{7:032x}-{9:016x}-01")
    # The caller's sampled flag wins over the rate; the unsampled trace exported nothing.
    wait_for_workflow_span(spans, "sampled-by-caller")
    assert not [
        s
        for s in spans.get_finished_spans()
        if (s.attributes or {}).get("workflow.instance_id") == quiet
    ]


def test_spans_survive_a_restart_mid_workflow(
    traced: Callable[..., Any], spans: InMemorySpanExporter
) -> None:
    """Spans come from the stored history: a tether restarted mid-workflow exports the whole
    execution, with the ids the first one stamped on the activity it dispatched."""
    from tests.conftest import wait_until

    first, client = traced()
    iid = client.schedule_new_workflow("paused", input=1)
    raw = Raw(first.grpc_port)
    wait_until(lambda: any(e.HasField("taskCompleted") for e in raw.history(iid)))
    first.stop()
    assert not [s for s in spans.get_finished_spans() if s.name == "workflow||paused"]

    _second, client = traced()
    client.raise_workflow_event(iid, "go")
    client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    found = wait_for_workflow_span(spans, iid)
    root = _one(found, "workflow||paused")
    steps = sorted(
        (s for s in found if s.name == "activity||step"), key=lambda s: s.start_time or 0
    )
    assert len(steps) == 2 and {_parent(s) for s in steps} == {_ids(root)[1]}
    _one(found, "event||go")
    # Both SDK activity spans, one run before the restart, hang under the spans exported after it.
    sdk = _wait_sdk(spans, {_ids(s)[1] for s in steps}, 2)
    assert {_parent(s) for s in sdk} == {_ids(s)[1] for s in steps}
