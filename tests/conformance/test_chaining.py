"""Task chaining with the official SDK against a real tether process."""

from __future__ import annotations

from typing import Any


def test_task_chaining(wf_runtime: Any, wf_client: Any) -> None:
    import dapr.ext.workflow as wf

    runtime = wf_runtime()

    @runtime.workflow(name="chain")
    def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        a = yield ctx.call_activity(double, input=x)
        b = yield ctx.call_activity(double, input=a)
        c = yield ctx.call_activity(double, input=b)
        return [a, b, c]

    @runtime.activity(name="double")
    def double(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x * 2

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(chain, input=3)
    state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert state is not None
    assert state.runtime_status.name == "COMPLETED"
    assert state.serialized_output == "[6, 12, 24]"
    assert state.serialized_input == "3"
