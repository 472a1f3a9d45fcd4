"""Every management call of ``DaprWorkflowClient`` against tether, with the official SDK."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf
import grpc
import pytest

from tests.conformance._support import Raw, rpc_code
from tests.conftest import wait_until
from tether import pb

W = wf.WorkflowStatus


def _register_basics(runtime: Any) -> dict[str, Any]:
    @runtime.workflow(name="echo")
    def echo(ctx: wf.DaprWorkflowContext, value: Any) -> Any:
        result = yield ctx.call_activity(identity, input=value)
        return result

    @runtime.workflow(name="waiter")
    def waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        first = yield ctx.call_activity(identity, input="warmup")
        value = yield ctx.wait_for_external_event("go")
        return [first, value]

    @runtime.workflow(name="sleeper_parent")
    def sleeper_parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield wf.when_all(
            [
                ctx.call_child_workflow(
                    sleeper_child, input=i, instance_id=f"{ctx.instance_id}-c{i}"
                )
                for i in range(2)
            ]
        )
        return "parent done"

    @runtime.workflow(name="sleeper_child")
    def sleeper_child(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")
        return "child done"

    @runtime.workflow(name="family")
    def family(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        results = yield wf.when_all([ctx.call_child_workflow(echo, input=i) for i in range(n)])
        return results

    @runtime.activity(name="identity")
    def identity(ctx: wf.WorkflowActivityContext, value: Any) -> Any:
        return value

    return {"echo": echo, "waiter": waiter, "sleeper_parent": sleeper_parent, "family": family}


@pytest.fixture
def app(wf_runtime: Any) -> dict[str, Any]:
    runtime = wf_runtime()
    registered = _register_basics(runtime)
    runtime.start()
    return registered


def test_schedule_with_and_without_id(app: dict[str, Any], wf_client: Any) -> None:
    given = wf_client.schedule_new_workflow(app["echo"], input={"a": 1}, instance_id="my-id_1")
    assert given == "my-id_1"
    generated = wf_client.schedule_new_workflow(app["echo"], input=[1, 2])
    assert generated and generated != given
    for instance_id, expected in ((given, '{"a": 1}'), (generated, "[1, 2]")):
        state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state.runtime_status == W.COMPLETED
        assert state.serialized_output == expected
        assert state.name == "echo"
        assert state.instance_id == instance_id


def test_schedule_with_start_time_stays_pending_until_due(
    app: dict[str, Any], wf_client: Any
) -> None:
    due = datetime.now(UTC) + timedelta(seconds=2)
    instance_id = wf_client.schedule_new_workflow(app["echo"], input="later", start_at=due)
    state = wf_client.get_workflow_state(instance_id)
    assert state is not None and state.runtime_status == W.PENDING
    assert state.name == "echo"
    started = wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=20)
    assert datetime.now(UTC) >= due
    assert started.runtime_status in (W.RUNNING, W.COMPLETED)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=20)
    assert done.serialized_output == '"later"'


def test_get_state_with_and_without_payloads(app: dict[str, Any], wf_client: Any) -> None:
    instance_id = wf_client.schedule_new_workflow(app["echo"], input="payload")
    wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    full = wf_client.get_workflow_state(instance_id)
    assert full.serialized_input == '"payload"'
    assert full.serialized_output == '"payload"'
    bare = wf_client.get_workflow_state(instance_id, fetch_payloads=False)
    assert bare.runtime_status == W.COMPLETED
    assert bare.serialized_input is None and bare.serialized_output is None
    assert bare.created_at <= bare.last_updated_at
    assert wf_client.get_workflow_state("no-such-instance") is None


def test_wait_for_start_and_completion(app: dict[str, Any], wf_client: Any) -> None:
    instance_id = wf_client.schedule_new_workflow(app["waiter"])
    started = wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    assert started.runtime_status == W.RUNNING
    assert started.serialized_input is None  # fetch_payloads defaults to False for start
    wf_client.raise_workflow_event(instance_id, "go", data=7)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == '["warmup", 7]'
    # An already-completed instance satisfies both waits at once (§8 item 4).
    for _ in range(2):
        t0 = time.monotonic()
        assert (
            wf_client.wait_for_workflow_completion(
                instance_id, timeout_in_seconds=30
            ).runtime_status
            == W.COMPLETED
        )
        assert (
            wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=30).runtime_status
            == W.COMPLETED
        )
        assert time.monotonic() - t0 < 1.0


def test_raise_event_before_and_after_wait(app: dict[str, Any], wf_client: Any) -> None:
    # Before: the event arrives while the workflow still runs its first activity.
    early = wf_client.schedule_new_workflow(app["waiter"])
    wf_client.raise_workflow_event(early, "go", data="early")
    # After: the workflow is parked in wait_for_external_event.
    late = wf_client.schedule_new_workflow(app["waiter"])
    wait_until(
        lambda: any(
            e.event_type == wf.WorkflowHistoryEventType.TASK_COMPLETED
            for e in wf_client.get_workflow_history(late)
        )
    )
    wf_client.raise_workflow_event(late, "go", data="late")
    assert (
        wf_client.wait_for_workflow_completion(early, timeout_in_seconds=30).serialized_output
        == '["warmup", "early"]'
    )
    assert (
        wf_client.wait_for_workflow_completion(late, timeout_in_seconds=30).serialized_output
        == '["warmup", "late"]'
    )
    # Raising to an unknown instance is an error naming the missing instance.
    with pytest.raises(grpc.RpcError) as err:
        wf_client.raise_workflow_event("nobody", "go", data=1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no such instance exists" in err.value.details()


def test_pause_and_resume(app: dict[str, Any], wf_client: Any) -> None:
    instance_id = wf_client.schedule_new_workflow(app["waiter"])
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    wf_client.pause_workflow(instance_id)
    assert wf_client.get_workflow_state(instance_id).runtime_status == W.SUSPENDED
    wf_client.resume_workflow(instance_id)
    assert wf_client.get_workflow_state(instance_id).runtime_status == W.RUNNING
    wf_client.raise_workflow_event(instance_id, "go", data=1)
    assert (
        wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30).runtime_status
        == W.COMPLETED
    )
    for call in (wf_client.pause_workflow, wf_client.resume_workflow):
        with pytest.raises(grpc.RpcError) as err:
            call("nobody")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_terminate_recursive(app: dict[str, Any], wf_client: Any) -> None:
    root = wf_client.schedule_new_workflow(app["sleeper_parent"], instance_id="tr")
    wait_until(
        lambda: all(
            wf_client.get_workflow_state(f"tr-c{i}") is not None
            and wf_client.get_workflow_state(f"tr-c{i}").runtime_status == W.RUNNING
            for i in range(2)
        )
    )
    wf_client.terminate_workflow(root, output="stop")
    state = wf_client.wait_for_workflow_completion(root, timeout_in_seconds=30)
    assert state.runtime_status == W.TERMINATED
    assert state.serialized_output == '"stop"'
    for i in range(2):
        child = wf_client.wait_for_workflow_completion(f"tr-c{i}", timeout_in_seconds=30)
        assert child.runtime_status == W.TERMINATED
    with pytest.raises(grpc.RpcError) as err:
        wf_client.terminate_workflow("nobody")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_purge_recursive_and_running_refused(
    app: dict[str, Any], wf_client: Any, sidecar: Any
) -> None:
    running = wf_client.schedule_new_workflow(app["waiter"])
    wf_client.wait_for_workflow_start(running, timeout_in_seconds=10)
    with pytest.raises(grpc.RpcError) as err:
        wf_client.purge_workflow(running)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "orchestration has not yet completed" in err.value.details()
    assert wf_client.get_workflow_state(running).runtime_status == W.RUNNING

    root = wf_client.schedule_new_workflow(app["family"], input=3, instance_id="pr")
    assert (
        wf_client.wait_for_workflow_completion(root, timeout_in_seconds=30).serialized_output
        == "[0, 1, 2]"
    )
    children = [i for i in wf_client.iter_workflow_instance_ids() if i.startswith("pr:")]
    assert len(children) == 3
    raw = Raw(sidecar.grpc_port)
    response = raw.call("PurgeInstances", pb.PurgeInstancesRequest(instanceId=root, recursive=True))
    assert response.deletedInstanceCount == 4
    assert wf_client.get_workflow_state(root) is None
    assert all(wf_client.get_workflow_state(c) is None for c in children)
    with pytest.raises(grpc.RpcError) as err:
        wf_client.purge_workflow(root)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    raw.close()


def test_rerun_from_event(app: dict[str, Any], wf_client: Any) -> None:
    source = wf_client.schedule_new_workflow(app["echo"], input="first")
    assert (
        wf_client.wait_for_workflow_completion(source, timeout_in_seconds=30).serialized_output
        == '"first"'
    )
    history = wf_client.get_workflow_history(source)
    scheduled = [e for e in history if e.event_type == wf.WorkflowHistoryEventType.TASK_SCHEDULED]
    assert len(scheduled) == 1 and scheduled[0].is_rerunnable
    new_id = wf_client.rerun_workflow_from_event(
        source, scheduled[0].event_id, new_instance_id="rerun-1", input="second"
    )
    assert new_id == "rerun-1"
    state = wf_client.wait_for_workflow_completion(new_id, timeout_in_seconds=30)
    assert state.runtime_status == W.COMPLETED
    assert state.serialized_output == '"second"'
    # The source is untouched.
    assert wf_client.get_workflow_state(source).serialized_output == '"first"'
    # Without new input the original activity input is reused.
    again = wf_client.rerun_workflow_from_event(source, scheduled[0].event_id)
    assert again not in (source, new_id)
    assert (
        wf_client.wait_for_workflow_completion(again, timeout_in_seconds=30).serialized_output
        == '"first"'
    )


def test_list_instance_ids(app: dict[str, Any], wf_client: Any) -> None:
    ids = {
        wf_client.schedule_new_workflow(app["echo"], input=i, instance_id=f"list-{i}")
        for i in range(5)
    }
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = wf_client.list_workflow_instance_ids(page_size=2, continuation_token=token)
        pages += 1
        seen.extend(page.instance_ids)
        token = page.continuation_token
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids)
    assert set(wf_client.iter_workflow_instance_ids(page_size=4)) == ids
    everything = wf_client.list_workflow_instance_ids()
    assert set(everything.instance_ids) == ids and not everything.continuation_token


def test_get_history(app: dict[str, Any], wf_client: Any) -> None:
    instance_id = wf_client.schedule_new_workflow(app["echo"], input=5)
    wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    T = wf.WorkflowHistoryEventType
    types = [e.event_type for e in wf_client.get_workflow_history(instance_id)]
    assert types == [
        T.WORKFLOW_STARTED,
        T.EXECUTION_STARTED,
        T.TASK_SCHEDULED,
        T.WORKFLOW_STARTED,
        T.TASK_COMPLETED,
        T.EXECUTION_COMPLETED,
    ]
    assert rpc_code(lambda: wf_client.get_workflow_history("nobody")) == grpc.StatusCode.NOT_FOUND
