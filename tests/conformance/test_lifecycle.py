"""Terminate, purge, continue-as-new, instance-ID reuse, children, unknown instances, versioning
(engine-semantics §8 items 9-15, 20, 29-31, 33, 35, 36)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf
import grpc
import pytest

from tests.conformance._support import Raw, kinds, rpc_error
from tests.conftest import wait_until
from tether import pb

W = wf.WorkflowStatus


def _status(client: Any, instance_id: str) -> Any:
    state = client.get_workflow_state(instance_id)
    return None if state is None else state.runtime_status


def test_terminate_while_suspended(wf_runtime: Any, wf_client: Any) -> None:
    """§8.9."""
    runtime = wf_runtime()

    @runtime.workflow(name="idle")
    def idle(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(idle)
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    wf_client.pause_workflow(instance_id)
    assert _status(wf_client, instance_id) == W.SUSPENDED
    wf_client.terminate_workflow(instance_id, output={"why": "stop"})
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.runtime_status == W.TERMINATED
    assert done.serialized_output == '{"why": "stop"}'


def test_terminate_pending_and_without_worker(wf_client: Any, sidecar: Any) -> None:
    """§8.10: a scheduled (PENDING) instance and an instance with no worker connected both
    terminate."""
    scheduled = wf_client.schedule_new_workflow(
        "anything", start_at=datetime.now(UTC) + timedelta(hours=1)
    )
    orphan = wf_client.schedule_new_workflow("anything", input=1)
    assert _status(wf_client, scheduled) == W.PENDING
    assert _status(wf_client, orphan) == W.PENDING
    for instance_id in (scheduled, orphan):
        wf_client.terminate_workflow(instance_id, output="bye")
        done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=10)
        assert done.runtime_status == W.TERMINATED
        assert done.serialized_output == '"bye"'
    assert kinds(Raw(sidecar.grpc_port).history(orphan))[-1] == "executionCompleted"


def _tree(runtime: Any, ran: list[str]) -> Any:
    @runtime.workflow(name="root")
    def root(ctx: wf.DaprWorkflowContext, delay: float) -> Any:
        result = yield ctx.call_child_workflow(
            middle, input=delay, instance_id=f"{ctx.instance_id}-m"
        )
        return result

    @runtime.workflow(name="middle")
    def middle(ctx: wf.DaprWorkflowContext, delay: float) -> Any:
        result = yield ctx.call_child_workflow(
            leaf, input=delay, instance_id=f"{ctx.instance_id}-l"
        )
        return result

    @runtime.workflow(name="leaf")
    def leaf(ctx: wf.DaprWorkflowContext, delay: float) -> Any:
        yield ctx.create_timer(timedelta(seconds=delay))
        result = yield ctx.call_activity(mark, input=ctx.instance_id)
        return result

    @runtime.activity(name="mark")
    def mark(ctx: wf.WorkflowActivityContext, who: str) -> str:
        ran.append(who)
        return f"{who} ran"

    return root


def test_recursive_terminate_stops_descendants(wf_runtime: Any, wf_client: Any) -> None:
    """§8.11 (recursive): every descendant stops before its timer fires; no activity runs."""
    runtime = wf_runtime()
    ran: list[str] = []
    root = _tree(runtime, ran)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(root, input=2.0, instance_id="rt")
    wait_until(lambda: _status(wf_client, "rt-m-l") == W.RUNNING)
    wf_client.terminate_workflow(instance_id, recursive=True)
    for member in ("rt", "rt-m", "rt-m-l"):
        assert (
            wf_client.wait_for_workflow_completion(member, timeout_in_seconds=10).runtime_status
            == W.TERMINATED
        )
    time.sleep(3)  # past the leaf's timer: nothing may run
    assert ran == []


def test_non_recursive_terminate_leaves_children(wf_runtime: Any, wf_client: Any) -> None:
    """§8.11 (non-recursive): children keep running to completion."""
    runtime = wf_runtime()
    ran: list[str] = []
    root = _tree(runtime, ran)
    runtime.start()
    instance_id = wf_client.schedule_new_workflow(root, input=1.0, instance_id="nr")
    wait_until(lambda: _status(wf_client, "nr-m-l") == W.RUNNING)
    wf_client.terminate_workflow(instance_id, recursive=False)
    assert (
        wf_client.wait_for_workflow_completion("nr", timeout_in_seconds=10).runtime_status
        == W.TERMINATED
    )
    for member in ("nr-m-l", "nr-m"):
        done = wf_client.wait_for_workflow_completion(member, timeout_in_seconds=20)
        assert done.runtime_status == W.COMPLETED
        assert done.serialized_output == '"nr-m-l ran"'
    assert ran == ["nr-m-l"]
    assert _status(wf_client, "nr") == W.TERMINATED


def test_terminate_terminal_instance_is_noop(wf_runtime: Any, wf_client: Any) -> None:
    """§8.12."""
    runtime = wf_runtime()

    @runtime.workflow(name="quick")
    def quick(ctx: wf.DaprWorkflowContext, x: int) -> int:
        return x

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(quick, input=4)
    before = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    wf_client.terminate_workflow(instance_id, output="late")
    after = wf_client.get_workflow_state(instance_id)
    assert after.runtime_status == W.COMPLETED
    assert after.serialized_output == "4"
    assert after.last_updated_at == before.last_updated_at


def test_purge_rules_and_force(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.13: purge of a running instance → FAILED_PRECONDITION; unknown → NOT_FOUND; force on a
    running instance succeeds and the later activity result is dropped."""
    runtime = wf_runtime()
    release = threading.Event()
    finished = threading.Event()

    @runtime.workflow(name="busy")
    def busy(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        result = yield ctx.call_activity(slow)
        return result

    @runtime.activity(name="slow")
    def slow(ctx: wf.WorkflowActivityContext, _: Any) -> str:
        release.wait(20)
        finished.set()
        return "late"

    runtime.start()
    raw = Raw(sidecar.grpc_port)
    instance_id = wf_client.schedule_new_workflow(busy, instance_id="busy-1")
    wait_until(lambda: "taskScheduled" in kinds(raw.history(instance_id)))
    err = rpc_error(
        lambda: raw.call("PurgeInstances", pb.PurgeInstancesRequest(instanceId=instance_id))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "orchestration has not yet completed" in err.details()
    err = rpc_error(
        lambda: raw.call("PurgeInstances", pb.PurgeInstancesRequest(instanceId="nobody"))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    forced = raw.call(
        "PurgeInstances", pb.PurgeInstancesRequest(instanceId=instance_id, force=True)
    )
    assert forced.deletedInstanceCount == 1
    assert raw.state(instance_id) is None
    release.set()
    assert finished.wait(10)
    time.sleep(0.5)  # give the dropped result time to (not) land
    assert raw.state(instance_id) is None
    assert instance_id not in set(wf_client.iter_workflow_instance_ids())
    raw.close()


def test_recursive_purge_counts_descendants(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.14: recursive purge of a completed root removes every completed descendant."""
    runtime = wf_runtime()
    ran: list[str] = []
    root = _tree(runtime, ran)
    runtime.start()
    wf_client.schedule_new_workflow(root, input=0.0, instance_id="pg")
    assert (
        wf_client.wait_for_workflow_completion("pg", timeout_in_seconds=30).runtime_status
        == W.COMPLETED
    )
    raw = Raw(sidecar.grpc_port)
    response = raw.call("PurgeInstances", pb.PurgeInstancesRequest(instanceId="pg", recursive=True))
    assert response.deletedInstanceCount == 3
    assert all(raw.state(i) is None for i in ("pg", "pg-m", "pg-m-l"))
    raw.close()


def test_continue_as_new_save_events(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.15: continue-as-new with save_events=True and five quickly raised events → [1..5],
    the last generation's input holds four, history is reset each generation."""
    runtime = wf_runtime()

    @runtime.workflow(name="gather")
    def gather(ctx: wf.DaprWorkflowContext, seen: list[int]) -> Any:
        value = yield ctx.wait_for_external_event("item")
        seen = [*seen, value]
        if len(seen) == 5:
            return seen
        ctx.continue_as_new(seen, save_events=True)

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(gather, input=[])
    for i in range(1, 6):
        wf_client.raise_workflow_event(instance_id, "item", data=i)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == "[1, 2, 3, 4, 5]"
    assert done.serialized_input == "[1, 2, 3, 4]"
    history = Raw(sidecar.grpc_port).history(instance_id)
    assert kinds(history).count("executionStarted") == 1
    assert kinds(history).count("eventRaised") == 1


def test_continue_as_new_with_activities(wf_runtime: Any, wf_client: Any) -> None:
    """§8.16 (SDK part): an activity per generation → [2, 4, 6]. The late-result part is in
    test_protocol.test_late_result_from_old_generation_dropped."""
    runtime = wf_runtime()

    @runtime.workflow(name="doubler")
    def doubler(ctx: wf.DaprWorkflowContext, acc: list[int]) -> Any:
        value = yield ctx.call_activity(double, input=len(acc) + 1)
        acc = [*acc, value]
        if len(acc) == 3:
            return acc
        ctx.continue_as_new(acc)

    @runtime.activity(name="double")
    def double(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return 2 * x

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(doubler, input=[])
    assert (
        wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30).serialized_output
        == "[2, 4, 6]"
    )


def test_instance_id_reuse(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.29: a RUNNING ID → ALREADY_EXISTS (a different workflow name; the same name is an
    idempotent no-op per §5.10); a COMPLETED ID restarts; enforceUniqueInstanceId over a
    COMPLETED ID → ALREADY_EXISTS."""
    runtime = wf_runtime()

    @runtime.workflow(name="hold")
    def hold(ctx: wf.DaprWorkflowContext, x: Any) -> Any:
        value = yield ctx.wait_for_external_event("go")
        return [x, value]

    @runtime.workflow(name="other")
    def other(ctx: wf.DaprWorkflowContext, x: Any) -> Any:
        return x

    runtime.start()
    wf_client.schedule_new_workflow(hold, input=1, instance_id="reuse")
    wf_client.wait_for_workflow_start("reuse", timeout_in_seconds=10)
    with pytest.raises(grpc.RpcError) as err:
        wf_client.schedule_new_workflow(other, input=2, instance_id="reuse")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert wf_client.schedule_new_workflow(hold, input=3, instance_id="reuse") == "reuse"
    assert wf_client.get_workflow_state("reuse").serialized_input == "1"
    raw = Raw(sidecar.grpc_port)
    err2 = rpc_error(lambda: raw.start("hold", "reuse", "4", enforceUniqueInstanceId=True))
    assert err2.code() == grpc.StatusCode.ALREADY_EXISTS

    wf_client.raise_workflow_event("reuse", "go", data="a")
    assert (
        wf_client.wait_for_workflow_completion("reuse", timeout_in_seconds=30).serialized_output
        == '[1, "a"]'
    )
    err2 = rpc_error(lambda: raw.start("hold", "reuse", "5", enforceUniqueInstanceId=True))
    assert err2.code() == grpc.StatusCode.ALREADY_EXISTS
    wf_client.schedule_new_workflow(hold, input=6, instance_id="reuse")
    wf_client.wait_for_workflow_start("reuse", timeout_in_seconds=10)
    wf_client.raise_workflow_event("reuse", "go", data="b")
    assert (
        wf_client.wait_for_workflow_completion("reuse", timeout_in_seconds=30).serialized_output
        == '[6, "b"]'
    )
    assert kinds(raw.history("reuse")).count("executionStarted") == 1
    raw.close()


def test_child_id_occupied_by_unrelated_instance(wf_runtime: Any, wf_client: Any) -> None:
    """§8.30: the parent sees childWorkflowInstanceFailed with WorkflowInstanceAlreadyExists."""
    runtime = wf_runtime()

    @runtime.workflow(name="squatter")
    def squatter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")

    @runtime.workflow(name="kid")
    def kid(ctx: wf.DaprWorkflowContext, _: Any) -> str:
        return "kid"

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        try:
            yield ctx.call_child_workflow(kid, instance_id="taken")
        except wf.TaskFailedError as err:
            return [err.details.error_type, err.details.message]
        return "no error"

    runtime.start()
    wf_client.schedule_new_workflow(squatter, instance_id="taken")
    wf_client.wait_for_workflow_start("taken", timeout_in_seconds=10)
    instance_id = wf_client.schedule_new_workflow(parent)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.serialized_output == (
        '["WorkflowInstanceAlreadyExists", "an active workflow with ID \'taken\' already exists"]'
    )
    squat = wf_client.get_workflow_state("taken")
    assert squat.runtime_status == W.RUNNING and squat.name == "squatter"


def test_unknown_instance_and_wait_deadline(wf_runtime: Any, wf_client: Any, sidecar: Any) -> None:
    """§8.31: GetInstance of an unknown ID → exists=false; waiting with a deadline on a
    never-ending workflow → TimeoutError in the client."""
    runtime = wf_runtime()

    @runtime.workflow(name="endless")
    def endless(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")

    runtime.start()
    raw = Raw(sidecar.grpc_port)
    assert raw.call("GetInstance", pb.GetInstanceRequest(instanceId="nobody")).exists is False
    assert (
        raw.call("WaitForInstanceCompletion", pb.GetInstanceRequest(instanceId="nobody")).exists
        is False
    )
    assert wf_client.get_workflow_state("nobody") is None
    instance_id = wf_client.schedule_new_workflow(endless)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=2)
    assert 1.5 < time.monotonic() - t0 < 10
    raw.close()


def test_history_unknown_and_pending(wf_client: Any, sidecar: Any) -> None:
    """§8.33: GetInstanceHistory of an unknown ID → NOT_FOUND; of a PENDING instance → empty."""
    raw = Raw(sidecar.grpc_port)
    err = rpc_error(lambda: raw.history("nobody"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "workflow instance 'nobody' not found" in err.details()
    pending = wf_client.schedule_new_workflow(
        "later", start_at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert raw.history(pending) == []
    raw.close()


def test_unregistered_orchestrator_and_activity(wf_runtime: Any, wf_client: Any) -> None:
    """§8.35: an unregistered orchestrator → FAILED (not stuck); an unregistered activity fails the
    task."""
    runtime = wf_runtime()

    @runtime.workflow(name="caller")
    def caller(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        try:
            yield ctx.call_activity("missing_activity")
        except wf.TaskFailedError as err:
            return err.details.error_type
        return "ran"

    runtime.start()
    ghost = wf_client.schedule_new_workflow("missing_workflow")
    done = wf_client.wait_for_workflow_completion(ghost, timeout_in_seconds=30)
    assert done.runtime_status == W.FAILED
    assert done.failure_details.error_type == "OrchestratorNotRegisteredError"
    caught = wf_client.schedule_new_workflow(caller)
    assert wf_client.wait_for_workflow_completion(
        caught, timeout_in_seconds=30
    ).serialized_output == ('"ActivityNotRegisteredError"')


def test_versioning_patch_mismatch_stalls_and_recovers(
    wf_runtime: Any, wf_client: Any, sidecar: Any
) -> None:
    """§8.36: the version name is recorded on the first workflowStarted; removing a patch stalls the
    instance (PATCH_MISMATCH); raise event is refused while stalled; redeploying the patched code
    unstalls it."""

    def deploy(patched: bool) -> Any:
        runtime = wf_runtime()

        @runtime.versioned_workflow(name="versioned", version_name="v1", is_latest=True)
        def versioned(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
            flag = ctx.is_patched("p1") if patched else False
            value = yield ctx.wait_for_external_event("go")
            return [flag, value]

        runtime.start()
        return runtime

    raw = Raw(sidecar.grpc_port)
    first = deploy(patched=True)
    instance_id = wf_client.schedule_new_workflow("versioned", instance_id="ver")
    wf_client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
    started = next(e for e in raw.history(instance_id) if e.HasField("workflowStarted"))
    assert started.workflowStarted.version.name == "v1"
    assert list(started.workflowStarted.version.patches) == ["p1"]
    first.shutdown()

    unpatched = deploy(patched=False)
    wf_client.raise_workflow_event(instance_id, "go", data=1)
    wait_until(lambda: _status(wf_client, instance_id) == W.STALLED)
    stalled = [e for e in raw.history(instance_id) if e.HasField("executionStalled")]
    assert stalled and stalled[-1].executionStalled.reason == pb.PATCH_MISMATCH
    err = rpc_error(lambda: wf_client.raise_workflow_event(instance_id, "go", data=2))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "workflow is stalled" in err.details()
    unpatched.shutdown()

    deploy(patched=True)
    done = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert done.runtime_status == W.COMPLETED
    assert done.serialized_output == "[true, 1]"
    raw.close()
