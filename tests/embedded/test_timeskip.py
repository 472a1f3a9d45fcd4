"""Time-skipping tests: a workflow with a 30-day timer on the virtual clock."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import tether.embedded as wf
from tether.testing import TimeSkipping


def test_a_thirty_day_timer_completes_in_virtual_time(workflow_env: TimeSkipping) -> None:
    runtime = workflow_env.runtime()
    seen: list[str] = []

    @runtime.workflow(name="monthly")
    def monthly(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        start = ctx.current_utc_datetime
        yield ctx.create_timer(timedelta(days=30))
        end = ctx.current_utc_datetime
        if not ctx.is_replaying:
            seen.append(end.isoformat())
        result = yield ctx.call_activity(note, input=(end - start).total_seconds())
        return result

    @runtime.activity(name="note")
    def note(ctx: Any, seconds: float) -> float:
        return seconds

    runtime.start()
    before = workflow_env.now()
    began = time.monotonic()
    iid = workflow_env.client.schedule_new_workflow(monthly, input=None)
    state = workflow_env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    elapsed = time.monotonic() - began
    assert state is not None and state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert float(state.serialized_output) >= 30 * 86400
    assert workflow_env.now() - before >= timedelta(days=30)
    assert seen, "the turn after the timer ran"
    workflow_env.assert_history(iid, "timerCreated", "timerFired", "taskScheduled", "taskCompleted")
    print(f"30-day timer workflow finished in {elapsed * 1000:.0f} ms of real time")


def test_events_can_be_raised_before_a_timeout_fires(workflow_env: TimeSkipping) -> None:
    runtime = workflow_env.runtime()

    @runtime.workflow(name="approval")
    def approval(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        approved = ctx.wait_for_external_event("approve")
        timeout = ctx.create_timer(timedelta(days=7))
        winner = yield wf.when_any([approved, timeout])
        return "approved" if winner == approved else "expired"

    runtime.start()
    client = workflow_env.client
    first = client.schedule_new_workflow(approval, input=None)
    client.wait_for_workflow_start(first, timeout_in_seconds=30)
    workflow_env.raise_event(first, "approve", True)
    done = client.wait_for_workflow_completion(first, timeout_in_seconds=30)
    assert done is not None and done.serialized_output == '"approved"'
    second = client.schedule_new_workflow(approval, input=None)
    done = client.wait_for_workflow_completion(second, timeout_in_seconds=30)
    assert done is not None and done.serialized_output == '"expired"'
    workflow_env.assert_history(second, "timerCreated", "timerFired", "executionCompleted")


def test_sleep_moves_the_clock_and_fires_due_timers(workflow_env: TimeSkipping) -> None:
    runtime = workflow_env.runtime()

    @runtime.workflow(name="nap")
    def nap(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.create_timer(timedelta(hours=1))
        return ctx.current_utc_datetime.isoformat()

    runtime.start()
    iid = workflow_env.client.schedule_new_workflow(nap, input=None)
    workflow_env.client.wait_for_workflow_start(iid, timeout_in_seconds=30)
    before = workflow_env.now()
    workflow_env.sleep(timedelta(hours=2))
    assert workflow_env.now() - before >= timedelta(hours=2)
    state = workflow_env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.runtime_status == wf.WorkflowStatus.COMPLETED


def test_retry_back_off_is_skipped_and_sticky_turns_match_replay(
    workflow_env: TimeSkipping,
) -> None:
    runtime = workflow_env.runtime(verify_sticky=True)
    attempts: list[int] = []
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(hours=1), max_number_of_attempts=3, backoff_coefficient=2
    )

    @runtime.workflow(name="stubborn")
    def stubborn(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        result = yield ctx.call_activity(flaky, input=None, retry_policy=policy)
        return [result, ctx.current_utc_datetime.isoformat()]

    @runtime.activity(name="flaky")
    def flaky(ctx: Any, _: Any) -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError(f"attempt {len(attempts)} failed")
        return len(attempts)

    runtime.start()
    before = workflow_env.now()
    iid = workflow_env.client.schedule_new_workflow(stubborn, input=None)
    state = workflow_env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.runtime_status == wf.WorkflowStatus.COMPLETED
    assert len(attempts) == 3
    # Two back-offs: 1 h, then 2 h, in virtual time.
    assert workflow_env.now() - before >= timedelta(hours=3)
