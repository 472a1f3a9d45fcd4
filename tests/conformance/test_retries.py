"""Activity failures, retry policies and retry timeouts (engine-semantics §8 items 17-19).

Item 17's compensation half is test_patterns.test_saga_compensation.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
from dapr.ext.workflow._durabletask.task import NonRetryableError

from tests.conformance._support import Raw

W = wf.WorkflowStatus


def test_activity_failure_raises_task_failed_error(wf_runtime: Any, wf_client: Any) -> None:
    """§8.17: the failure reaches the workflow as TaskFailedError with the activity's details."""
    runtime = wf_runtime()

    @runtime.workflow(name="catcher")
    def catcher(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        try:
            yield ctx.call_activity(boom)
        except wf.TaskFailedError as err:
            return [err.details.error_type, err.details.message]
        return "no error"

    @runtime.activity(name="boom")
    def boom(ctx: wf.WorkflowActivityContext, _: Any) -> None:
        raise KeyError("missing thing")

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(catcher)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == '["KeyError", "\'missing thing\'"]'


def test_retry_policy_nested_and_non_retryable(
    wf_runtime: Any, wf_client: Any, sidecar: Any
) -> None:
    """§8.18: 3 activity attempts x 3 child attempts = 9 activity runs and 3 child runs; the child's
    retries re-create the same child ID over its FAILED predecessor; NonRetryableError runs once."""
    runtime = wf_runtime()
    lock = threading.Lock()
    counts = {"activity": 0, "child": 0, "fatal": 0}
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=3
    )

    def bump(key: str) -> None:
        with lock:
            counts[key] += 1

    @runtime.workflow(name="retry_parent")
    def retry_parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        with contextlib.suppress(wf.TaskFailedError):
            yield ctx.call_child_workflow(retry_child, instance_id="the-child", retry_policy=policy)
        try:
            yield ctx.call_activity(fatal, retry_policy=policy)
        except wf.TaskFailedError as err:
            return err.details.error_type
        return "unreachable"

    @runtime.workflow(name="retry_child")
    def retry_child(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        if not ctx.is_replaying:
            bump("child")
        yield ctx.call_activity(always_fails, retry_policy=policy)

    @runtime.activity(name="always_fails")
    def always_fails(ctx: wf.WorkflowActivityContext, _: Any) -> None:
        bump("activity")
        raise RuntimeError("nope")

    @runtime.activity(name="fatal")
    def fatal(ctx: wf.WorkflowActivityContext, _: Any) -> None:
        bump("fatal")
        raise NonRetryableError("do not retry")

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(retry_parent)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert done.runtime_status == W.COMPLETED
    assert done.serialized_output == '"NonRetryableError"'
    assert counts == {"activity": 9, "child": 3, "fatal": 1}
    history = Raw(sidecar.grpc_port).history(instance_id)
    created = [
        e.childWorkflowInstanceCreated.instanceId
        for e in history
        if e.HasField("childWorkflowInstanceCreated")
    ]
    assert created == ["the-child"] * 3
    assert wf_client.get_workflow_state("the-child").runtime_status == W.FAILED


def test_retry_timeout_limits_attempts(wf_runtime: Any, wf_client: Any) -> None:
    """§8.19: first interval 1 s, coefficient 2, at most 5 attempts, retry timeout 13 s → exactly 4
    attempts (at 0, 1, 3 and 7 s; the fifth would start at 15 s)."""
    runtime = wf_runtime()
    attempts: list[float] = []
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        backoff_coefficient=2,
        max_number_of_attempts=5,
        retry_timeout=timedelta(seconds=13),
    )

    @runtime.workflow(name="timed_retries")
    def timed_retries(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.call_activity(flaky, retry_policy=policy)

    @runtime.activity(name="flaky")
    def flaky(ctx: wf.WorkflowActivityContext, _: Any) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError(f"attempt {len(attempts)}")

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(timed_retries)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert done.runtime_status == W.FAILED
    assert "attempt 4" in done.failure_details.message
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    for gap, expected in zip(gaps, (1, 2, 4), strict=True):
        assert expected - 0.05 <= gap < expected + 1.5
