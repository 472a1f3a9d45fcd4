"""Payload limits: up to the SDK's 4 MiB default everything flows; beyond it a clear
RESOURCE_EXHAUSTED, and never an instance stuck without a status that says why."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.conftest import wait_until

MiB = 1024 * 1024


def test_a_three_mebibyte_payload_round_trips(wf_runtime: Any, wf_client: Any) -> None:
    import dapr.ext.workflow as wf

    runtime = wf_runtime()

    @runtime.workflow(name="big")
    def big(ctx: wf.DaprWorkflowContext, size: int) -> Any:
        blob = yield ctx.call_activity(make, input=size)
        return len(blob)

    @runtime.activity(name="make")
    def make(ctx: wf.WorkflowActivityContext, size: int) -> str:
        return "x" * size

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(big, input=3 * MiB)
    state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert state.runtime_status.name == "COMPLETED"
    assert state.serialized_output == str(3 * MiB)


def test_an_oversized_activity_result_fails_the_task_not_the_instance(
    wf_runtime: Any, wf_client: Any
) -> None:
    import dapr.ext.workflow as wf
    from dapr.ext.workflow._durabletask.task import TaskFailedError

    runtime = wf_runtime()

    @runtime.workflow(name="too_big")
    def too_big(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        try:
            yield ctx.call_activity(huge)
        except TaskFailedError as err:
            return f"failed: {err}"
        return "delivered"

    @runtime.activity(name="huge")
    def huge(ctx: wf.WorkflowActivityContext, _: Any) -> str:
        return "y" * (5 * MiB)

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(too_big)
    state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert state.runtime_status.name == "COMPLETED"
    assert "exceeds gRPC max message size" in state.serialized_output


def test_an_oversized_start_is_refused_with_resource_exhausted(wf_client: Any) -> None:
    with pytest.raises(grpc.RpcError) as info:
        wf_client.schedule_new_workflow("anything", input="z" * (5 * MiB))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_history_too_large_for_a_worker_stalls_with_a_reason(
    wf_runtime: Any, wf_client: Any
) -> None:
    import dapr.ext.workflow as wf

    runtime = wf_runtime()

    @runtime.workflow(name="grows")
    def grows(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        for _ in range(4):
            yield ctx.call_activity(chunk)
        return "done"

    @runtime.activity(name="chunk")
    def chunk(ctx: wf.WorkflowActivityContext, _: Any) -> str:
        return "c" * (1536 * 1024)

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(grows)
    state = wait_until(
        lambda: (
            (s := wf_client.get_workflow_state(instance_id))
            and s.runtime_status.name == "STALLED"
            and s
        ),
        timeout=60,
    )
    assert state.runtime_status.name == "STALLED"
    # Management still works on it: a stalled instance can be terminated and purged.
    wf_client.terminate_workflow(instance_id)
    wait_until(
        lambda: wf_client.get_workflow_state(instance_id).runtime_status.name == "TERMINATED"
    )
    wf_client.purge_workflow(instance_id)
    assert wf_client.get_workflow_state(instance_id) is None
