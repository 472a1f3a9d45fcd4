"""The workflows the dashboard tests drive, and a worker process serving them.

``python -m tests.dashboard.workflows GRPC_PORT`` runs a ``WorkflowRuntime`` with them until its
standard input closes (the SDK's threads stay out of the test process, which drives a browser).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

_attempts: Counter[str] = Counter()


def register_workflows(runtime: Any) -> None:
    import dapr.ext.workflow as wf

    @runtime.activity(name="charge")
    def charge(ctx: wf.WorkflowActivityContext, order: Any) -> Any:
        return {"charged": order.get("amount", 0)}

    @runtime.activity(name="reserve")
    def reserve(ctx: wf.WorkflowActivityContext, order: Any) -> Any:
        # Fails on its first attempt for each instance: the retry shows as a second attempt.
        _attempts[ctx.workflow_id] += 1
        if _attempts[ctx.workflow_id] < 2:
            raise RuntimeError("warehouse busy, try again")
        return {"reserved": True}

    @runtime.activity(name="pack")
    def pack(ctx: wf.WorkflowActivityContext, order: Any) -> str:
        return f"parcel for {order.get('item')}"

    @runtime.activity(name="decline")
    def decline(ctx: wf.WorkflowActivityContext, order: Any) -> Any:
        raise ValueError(f"card declined for {order.get('item')}")

    @runtime.activity(name="hold")
    def hold(ctx: wf.WorkflowActivityContext, path: str) -> str:
        # Runs until the test creates ``path`` (at most 60 s): an activity a worker holds.
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "released"

    @runtime.workflow(name="held")
    def held(ctx: wf.DaprWorkflowContext, path: str) -> Any:
        return (yield ctx.call_activity(hold, input=path))

    @runtime.workflow(name="ship")
    def ship(ctx: wf.DaprWorkflowContext, order: Any) -> Any:
        parcel = yield ctx.call_activity(pack, input=order)
        return {"parcel": parcel}

    @runtime.workflow(name="order")
    def order(ctx: wf.DaprWorkflowContext, order: Any) -> Any:
        ctx.set_custom_status("charging")
        charged = yield ctx.call_activity(charge, input=order)
        retry = wf.RetryPolicy(
            first_retry_interval=timedelta(milliseconds=200), max_number_of_attempts=3
        )
        yield ctx.call_activity(reserve, input=order, retry_policy=retry)
        yield ctx.create_timer(timedelta(milliseconds=300))
        shipped = yield ctx.call_child_workflow(
            ship, input=order, instance_id=f"{ctx.instance_id}-ship"
        )
        ctx.set_custom_status("awaiting approval")
        approval = yield ctx.wait_for_external_event("approval")
        return {"charged": charged, "shipped": shipped, "approval": approval}

    @runtime.workflow(name="broken")
    def broken(ctx: wf.DaprWorkflowContext, order: Any) -> Any:
        yield ctx.call_activity(decline, input=order)

    @runtime.workflow(name="idle")
    def idle(ctx: wf.DaprWorkflowContext, value: Any) -> Any:
        ctx.set_custom_status("waiting for go")
        got = yield ctx.wait_for_external_event("go")
        return {"got": got, "value": value}


def main() -> None:
    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=sys.argv[1])
    register_workflows(runtime)
    runtime.start()
    try:
        sys.stdin.read()
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
