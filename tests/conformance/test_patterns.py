"""One test per documented Dapr workflow pattern, run with the official SDK against tether.

(Task chaining lives in test_chaining.py.)
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

from tests.conftest import wait_until


def _done(client: Any, instance_id: str, timeout: int = 30) -> Any:
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=timeout)
    assert state is not None
    return state


def test_fan_out_fan_in(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="fan")
    def fan(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        items = yield ctx.call_activity(get_items, input=n)
        results = yield wf.when_all([ctx.call_activity(square, input=i) for i in items])
        total = yield ctx.call_activity(add_up, input=results)
        return total

    @runtime.activity(name="get_items")
    def get_items(ctx: wf.WorkflowActivityContext, n: int) -> list[int]:
        return list(range(1, n + 1))

    @runtime.activity(name="square")
    def square(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x * x

    @runtime.activity(name="add_up")
    def add_up(ctx: wf.WorkflowActivityContext, xs: list[int]) -> int:
        return sum(xs)

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(fan, input=10)
    state = _done(wf_client, instance_id)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert state.serialized_output == str(sum(i * i for i in range(1, 11)))


def test_monitor_continue_as_new(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()
    checks: list[int] = []

    @runtime.workflow(name="monitor")
    def monitor(ctx: wf.DaprWorkflowContext, job: dict[str, int]) -> Any:
        status = yield ctx.call_activity(check_status, input=job["polls"])
        if status == "healthy":
            return {"polls": job["polls"], "status": status}
        yield ctx.create_timer(timedelta(milliseconds=200))
        ctx.continue_as_new({"polls": job["polls"] + 1})

    @runtime.activity(name="check_status")
    def check_status(ctx: wf.WorkflowActivityContext, polls: int) -> str:
        checks.append(polls)
        return "healthy" if polls >= 3 else "unhealthy"

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(monitor, input={"polls": 0})
    state = _done(wf_client, instance_id)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert state.serialized_output == '{"polls": 3, "status": "healthy"}'
    assert state.serialized_input == '{"polls": 3}'
    assert checks == [0, 1, 2, 3]
    # Each generation starts with an empty history: only the last one remains.
    history = wf_client.get_workflow_history(instance_id)
    started = [e for e in history if e.event_type == wf.WorkflowHistoryEventType.EXECUTION_STARTED]
    assert len(started) == 1


def test_external_event_with_timeout(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="approval_or_timeout")
    def approval_or_timeout(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        event = ctx.wait_for_external_event("approval")
        timeout = ctx.create_timer(timedelta(seconds=2))
        winner = yield wf.when_any([event, timeout])
        if winner == timeout:
            return "timed out"
        return f"approved by {event.get_result()}"

    runtime.start()
    approved = wf_client.schedule_new_workflow(approval_or_timeout)
    ignored = wf_client.schedule_new_workflow(approval_or_timeout)
    wf_client.raise_workflow_event(approved, "approval", data="alice")
    assert _done(wf_client, approved).serialized_output == '"approved by alice"'
    assert _done(wf_client, ignored).serialized_output == '"timed out"'


def test_human_approval(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()
    placed: list[str] = []

    @runtime.workflow(name="purchase")
    def purchase(ctx: wf.DaprWorkflowContext, order: dict[str, Any]) -> Any:
        if order["cost"] < 1000:
            yield ctx.call_activity(place_order, input=order["item"])
            return "auto-approved"
        ctx.set_custom_status("waiting for approval")
        approval = ctx.wait_for_external_event("approval_received")
        timeout = ctx.create_timer(timedelta(hours=24))
        winner = yield wf.when_any([approval, timeout])
        if winner == timeout:
            return "cancelled"
        decision = approval.get_result()
        if not decision["approved"]:
            return f"rejected by {decision['approver']}"
        yield ctx.call_activity(place_order, input=order["item"])
        return f"approved by {decision['approver']}"

    @runtime.activity(name="place_order")
    def place_order(ctx: wf.WorkflowActivityContext, item: str) -> None:
        placed.append(item)

    runtime.start()
    cheap = wf_client.schedule_new_workflow(purchase, input={"item": "pen", "cost": 5})
    big = wf_client.schedule_new_workflow(purchase, input={"item": "car", "cost": 20000})
    rejected = wf_client.schedule_new_workflow(purchase, input={"item": "boat", "cost": 90000})
    assert _done(wf_client, cheap).serialized_output == '"auto-approved"'

    wait_until(
        lambda: wf_client.get_workflow_state(big).serialized_custom_status == "waiting for approval"
    )
    wf_client.raise_workflow_event(
        big, "approval_received", data={"approved": True, "approver": "bob"}
    )
    wf_client.raise_workflow_event(
        rejected, "approval_received", data={"approved": False, "approver": "eve"}
    )
    assert _done(wf_client, big).serialized_output == '"approved by bob"'
    assert _done(wf_client, rejected).serialized_output == '"rejected by eve"'
    assert sorted(placed) == ["car", "pen"]


def test_child_workflows(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        results = yield wf.when_all([ctx.call_child_workflow(child, input=i) for i in range(n)])
        named = yield ctx.call_child_workflow(
            child, input=100, instance_id=f"{ctx.instance_id}-named"
        )
        return [*results, named]

    @runtime.workflow(name="child")
    def child(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        doubled = yield ctx.call_activity(double, input=x)
        return doubled + 1

    @runtime.activity(name="double")
    def double(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return 2 * x

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(parent, input=3, instance_id="fam")
    state = _done(wf_client, instance_id)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert state.serialized_output == "[1, 3, 5, 201]"
    named = wf_client.get_workflow_state("fam-named")
    assert named is not None and named.runtime_status == wf.WorkflowStatus.COMPLETED
    ids = set(wf_client.iter_workflow_instance_ids())
    assert {"fam", "fam-named"} <= ids
    assert len([i for i in ids if i.startswith("fam:")]) == 3


def test_retry_policy_flaky_activity(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()
    calls: dict[str, int] = {}
    lock = threading.Lock()
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100),
        max_number_of_attempts=4,
        backoff_coefficient=2,
    )

    @runtime.workflow(name="flaky_wf")
    def flaky_wf(ctx: wf.DaprWorkflowContext, failures: int) -> Any:
        result = yield ctx.call_activity(flaky, input=failures, retry_policy=policy)
        return result

    @runtime.activity(name="flaky")
    def flaky(ctx: wf.WorkflowActivityContext, failures: int) -> str:
        key = ctx.workflow_id
        with lock:
            calls[key] = calls.get(key, 0) + 1
            attempt = calls[key]
        if attempt <= failures:
            raise RuntimeError(f"attempt {attempt} failed")
        return f"ok after {attempt}"

    runtime.start()
    recovers = wf_client.schedule_new_workflow(flaky_wf, input=2)
    gives_up = wf_client.schedule_new_workflow(flaky_wf, input=10)
    assert _done(wf_client, recovers).serialized_output == '"ok after 3"'
    failed = _done(wf_client, gives_up)
    assert failed.runtime_status == wf.WorkflowStatus.FAILED
    assert "attempt 4 failed" in failed.failure_details.message
    assert calls == {recovers: 3, gives_up: 4}


def test_saga_compensation(wf_runtime: Any, wf_client: Any) -> None:
    runtime = wf_runtime()
    log: list[str] = []

    @runtime.workflow(name="trip")
    def trip(ctx: wf.DaprWorkflowContext, fail_at: str) -> Any:
        compensations: list[str] = []
        try:
            for step in ("flight", "hotel", "car"):
                yield ctx.call_activity(book, input=[step, fail_at])
                compensations.append(step)
        except wf.TaskFailedError as err:
            for step in reversed(compensations):
                yield ctx.call_activity(cancel, input=step)
            return f"compensated: {err}"
        return "booked"

    @runtime.activity(name="book")
    def book(ctx: wf.WorkflowActivityContext, args: list[str]) -> None:
        step, fail_at = args
        if step == fail_at:
            raise ValueError(f"no {step} available")
        log.append(f"book {step}")

    @runtime.activity(name="cancel")
    def cancel(ctx: wf.WorkflowActivityContext, step: str) -> None:
        log.append(f"cancel {step}")

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(trip, input="car")
    state = _done(wf_client, instance_id)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert "no car available" in state.serialized_output
    assert log == ["book flight", "book hotel", "cancel hotel", "cancel flight"]
