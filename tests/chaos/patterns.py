"""The SDK patterns the chaos suite runs, and how a client drives each to its end.

Every workflow is deterministic, so an instance's final status and output under faults must
equal those of a fault-free run. ``python -m tests.chaos.patterns PORT`` runs them as a worker
process (which the runner SIGKILLs and restarts); stdin closing stops it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
from dapr.ext.workflow._durabletask.task import TaskFailedError

RETRY = wf.RetryPolicy(
    first_retry_interval=timedelta(milliseconds=200), max_number_of_attempts=3
)


def register(runtime: Any) -> None:
    @runtime.activity(name="inc")
    def inc(ctx: Any, x: int) -> int:
        return x + 1

    @runtime.activity(name="square")
    def square(ctx: Any, x: int) -> int:
        return x * x

    @runtime.activity(name="always_fails")
    def always_fails(ctx: Any, x: int) -> int:
        raise ValueError(f"no luck with {x}")

    @runtime.workflow(name="chain")
    def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        for _ in range(3):
            x = yield ctx.call_activity(inc, input=x)
        return x

    @runtime.workflow(name="fan_out")
    def fan_out(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        results = yield wf.when_all([ctx.call_activity(square, input=i) for i in range(n)])
        return sum(results)

    @runtime.workflow(name="child")
    def child(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        return (yield ctx.call_activity(inc, input=x * 2))

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        a = yield ctx.call_child_workflow(child, input=x)
        b = yield ctx.call_child_workflow(child, input=a)
        return [a, b]

    @runtime.workflow(name="timers")
    def timers(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.create_timer(timedelta(milliseconds=300))
        timer = ctx.create_timer(timedelta(milliseconds=200))
        winner = yield wf.when_any([timer, ctx.wait_for_external_event("never")])
        return "timer" if winner == timer else "event"

    @runtime.workflow(name="events")
    def events(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        got = []
        for _ in range(3):
            got.append((yield ctx.wait_for_external_event("item")))
        return got

    @runtime.workflow(name="counter")
    def counter(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        if n >= 3:
            return n
        yield ctx.call_activity(inc, input=n)
        ctx.continue_as_new(n + 1)

    @runtime.workflow(name="retries")
    def retries(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        try:
            yield ctx.call_activity(always_fails, input=x, retry_policy=RETRY)
        except TaskFailedError:
            return "gave up"
        return "impossible"

    @runtime.workflow(name="approval")
    def approval(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("approve"))

    @runtime.workflow(name="forever")
    def forever(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")
        return "impossible"


def _retrying(fn: Callable[[], Any], deadline: float) -> Any:
    """A client call, retried while the sidecar is down (a kill) until ``deadline``."""
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def drive(client: wf.DaprWorkflowClient, prefix: str, timeout: float = 90) -> dict[str, Any]:
    """Run every pattern once; each instance's (status, output) by pattern name."""
    deadline = time.monotonic() + timeout
    starts = {
        "chain": ("chain", 1),
        "fan_out": ("fan_out", 5),
        "parent": ("parent", 3),
        "timers": ("timers", None),
        "events": ("events", None),
        "counter": ("counter", 0),
        "retries": ("retries", 7),
        "suspend_resume": ("approval", None),
        "terminate": ("forever", None),
    }
    ids = {}
    for key, (name, value) in starts.items():
        instance_id = f"{prefix}-{key}"
        ids[key] = instance_id
        _retrying(
            lambda n=name, v=value, i=instance_id: client.schedule_new_workflow(
                n, input=v, instance_id=i
            ),
            deadline,
        )
    for n in range(1, 4):  # the SDK sends data=0 as no data
        _retrying(lambda n=n: client.raise_workflow_event(ids["events"], "item", data=n), deadline)
    _retrying(lambda: client.pause_workflow(ids["suspend_resume"]), deadline)
    _retrying(
        lambda: client.raise_workflow_event(ids["suspend_resume"], "approve", data="ok"), deadline
    )
    _retrying(lambda: client.resume_workflow(ids["suspend_resume"]), deadline)
    _retrying(lambda: client.terminate_workflow(ids["terminate"], output="stopped"), deadline)
    outcome: dict[str, Any] = {key: ("MISSING", None) for key in ids}
    pending = dict(ids)
    while pending and time.monotonic() < deadline:  # poll all: one stuck instance must not
        for key, instance_id in list(pending.items()):  # use up the others' time
            try:
                state = client.get_workflow_state(instance_id)
            except Exception:
                continue
            if state is None:
                continue
            outcome[key] = (state.runtime_status.name, state.serialized_output)
            if state.runtime_status.name in ("COMPLETED", "FAILED", "TERMINATED"):
                del pending[key]
        time.sleep(0.05)
    return outcome


def main() -> None:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=sys.argv[1])
    register(runtime)
    runtime.start()
    try:
        sys.stdin.read()
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
