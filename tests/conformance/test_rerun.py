"""Rerun from an event (engine-semantics §8 item 34, §5.9)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
import grpc
import pytest

from tests.conformance._support import Raw, rpc_error
from tests.conftest import wait_until
from tether import pb

W = wf.WorkflowStatus
T = wf.WorkflowHistoryEventType


@pytest.fixture
def app(wf_runtime: Any) -> dict[str, Any]:
    runtime = wf_runtime()

    @runtime.workflow(name="pair")
    def pair(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        a = yield ctx.call_activity(inc, input=x)
        b = yield ctx.call_activity(inc, input=a * 10)
        return [a, b]

    @runtime.workflow(name="timed")
    def timed(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        yield ctx.create_timer(timedelta(milliseconds=300))
        result = yield ctx.call_activity(inc, input=x)
        return result

    @runtime.workflow(name="with_child")
    def with_child(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        result = yield ctx.call_child_workflow(pair, input=x)
        return result

    @runtime.workflow(name="blocked")
    def blocked(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")

    @runtime.activity(name="inc")
    def inc(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x + 1

    runtime.start()
    return {"pair": pair, "timed": timed, "with_child": with_child, "blocked": blocked}


def _event_id(client: Any, instance_id: str, kind: Any, index: int = 0) -> int:
    return [e.event_id for e in client.get_workflow_history(instance_id) if e.event_type == kind][
        index
    ]


def _finished(client: Any, instance_id: str) -> Any:
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert state is not None
    return state


def test_rerun_from_activity_with_new_input(app: dict[str, Any], wf_client: Any) -> None:
    source = wf_client.schedule_new_workflow(app["pair"], input=1, instance_id="src-a")
    assert _finished(wf_client, source).serialized_output == "[2, 21]"
    second = _event_id(wf_client, source, T.TASK_SCHEDULED, 1)
    new_id = wf_client.rerun_workflow_from_event(source, second, new_instance_id="rr-a", input=100)
    state = _finished(wf_client, new_id)
    assert state.runtime_status == W.COMPLETED and state.serialized_output == "[2, 101]"
    scheduled = [
        e for e in wf_client.get_workflow_history(new_id) if e.event_type == T.TASK_SCHEDULED
    ]
    assert len(scheduled) == 2


def test_rerun_from_timer(app: dict[str, Any], wf_client: Any) -> None:
    source = wf_client.schedule_new_workflow(app["timed"], input=5, instance_id="src-t")
    assert _finished(wf_client, source).serialized_output == "6"
    timer = _event_id(wf_client, source, T.TIMER_CREATED)
    new_id = wf_client.rerun_workflow_from_event(source, timer, new_instance_id="rr-t")
    assert _finished(wf_client, new_id).serialized_output == "6"
    with pytest.raises(grpc.RpcError) as err:
        wf_client.rerun_workflow_from_event(source, timer, new_instance_id="rr-t2", input=1)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rerun_from_child(app: dict[str, Any], wf_client: Any) -> None:
    source = wf_client.schedule_new_workflow(app["with_child"], input=2, instance_id="src-c")
    assert _finished(wf_client, source).serialized_output == "[3, 31]"
    created = _event_id(wf_client, source, T.CHILD_WORKFLOW_INSTANCE_CREATED)
    new_id = wf_client.rerun_workflow_from_event(source, created, new_instance_id="rr-c", input=7)
    assert _finished(wf_client, new_id).serialized_output == "[8, 81]"
    child_id = f"rr-c:{created:04x}"
    assert wf_client.get_workflow_state(child_id).runtime_status == W.COMPLETED
    named = wf_client.rerun_workflow_from_event(
        source, created, new_instance_id="rr-c2", new_child_workflow_instance_id="my-child"
    )
    assert _finished(wf_client, named).serialized_output == "[3, 31]"
    assert wf_client.get_workflow_state("my-child").runtime_status == W.COMPLETED
    # A child cannot be the source of a rerun.
    err = rpc_error(
        lambda: wf_client.rerun_workflow_from_event(child_id, 1, new_instance_id="rr-x")
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "child" in err.details()


def test_rerun_preconditions(app: dict[str, Any], wf_client: Any, sidecar: Any) -> None:
    source = wf_client.schedule_new_workflow(app["pair"], input=1, instance_id="src-p")
    _finished(wf_client, source)
    first = _event_id(wf_client, source, T.TASK_SCHEDULED)
    completed = _event_id(wf_client, source, T.EXECUTION_COMPLETED)
    running = wf_client.schedule_new_workflow(app["blocked"], instance_id="run-p")
    wait_until(lambda: wf_client.get_workflow_state(running).runtime_status == W.RUNNING)
    raw = Raw(sidecar.grpc_port)

    def code(**fields: Any) -> tuple[grpc.StatusCode, str]:
        err = rpc_error(
            lambda: raw.call("RerunWorkflowFromEvent", pb.RerunWorkflowFromEventRequest(**fields))
        )
        return err.code(), err.details()

    C = grpc.StatusCode
    assert code(eventID=first)[0] == C.INVALID_ARGUMENT  # no source
    assert (
        code(sourceInstanceID=source, eventID=first, newInstanceID=source)[0] == C.INVALID_ARGUMENT
    )
    status, text = code(sourceInstanceID="nobody", eventID=first)
    assert status == C.NOT_FOUND and "workflow instance does not exist with ID 'nobody'" in text
    status, text = code(sourceInstanceID=running, eventID=1)
    assert status == C.INVALID_ARGUMENT and "is not in a terminal state" in text
    status, text = code(sourceInstanceID=source, eventID=999)
    assert status == C.NOT_FOUND and "does not have history event with ID '999'" in text
    assert code(sourceInstanceID=source, eventID=completed)[0] == C.NOT_FOUND
    assert (
        code(sourceInstanceID=source, eventID=first, newChildWorkflowInstanceID="c")[0]
        == C.INVALID_ARGUMENT
    )
    wf_client.rerun_workflow_from_event(source, first, new_instance_id="taken-p")
    status, text = code(sourceInstanceID=source, eventID=first, newInstanceID="taken-p")
    assert status == C.ALREADY_EXISTS and "has already been created" in text
    raw.close()
