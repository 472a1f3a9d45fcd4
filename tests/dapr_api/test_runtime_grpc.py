"""The Dapr runtime gRPC API (``dapr.proto.runtime.v1.Dapr``) against a real ``tether serve``.

* raw stubs of the project's own ``dapr`` 1.19 package, Alpha1 and Beta1, for every workflow call,
  daprd's errors, GetMetadata and the refusal of the other building blocks;
* seed 000's ``DaprClient`` calls with ``dapr==1.17.5`` (the last SDK that has them), in its own
  virtualenv, while the workflows run in an official 1.19 worker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.proto.runtime.v1 import dapr_pb2_grpc, metadata_pb2, state_pb2, workflow_pb2

from tests.conftest import wait_until
from tests.integration.test_old_sdks import _venv_python
from tether.testing import SidecarProcess

APPS = Path(__file__).parent / "apps"
VERSIONS = ("Alpha1", "Beta1")


@pytest.fixture
def stub(sidecar: SidecarProcess) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        yield dapr_pb2_grpc.DaprStub(channel)


def _call(stub: Any, name: str, version: str, request: Any) -> Any:
    return getattr(stub, f"{name}{version}")(request, timeout=20)


def _error(fn: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def _waiting_workflow(wf_runtime: Callable[..., Any]) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="approval")
    def approval(ctx: Any, order: Any) -> Any:
        answer = yield ctx.wait_for_external_event("approved")
        ctx.set_custom_status("approved")
        return {"order": order, "answer": answer}

    runtime.start()


def _status(stub: Any, version: str, instance_id: str) -> str:
    request = workflow_pb2.GetWorkflowRequest(instance_id=instance_id, workflow_component="dapr")
    return str(_call(stub, "GetWorkflow", version, request).runtime_status)


@pytest.mark.parametrize("version", VERSIONS)
def test_workflow_lifecycle(
    version: str, stub: Any, wf_runtime: Callable[..., Any], sidecar: SidecarProcess
) -> None:
    _waiting_workflow(wf_runtime)
    iid = f"order-{version}"
    started = _call(
        stub,
        "StartWorkflow",
        version,
        workflow_pb2.StartWorkflowRequest(
            instance_id=iid, workflow_component="dapr", workflow_name="approval", input=b'"pens"'
        ),
    )
    assert started.instance_id == iid
    wait_until(lambda: _status(stub, version, iid) == "RUNNING")
    got = _call(stub, "GetWorkflow", version, workflow_pb2.GetWorkflowRequest(instance_id=iid))
    assert got.workflow_name == "approval"
    assert got.properties["dapr.workflow.input"] == '"pens"'
    assert got.created_at.seconds > 0 and got.last_updated_at.seconds > 0

    pause = workflow_pb2.PauseWorkflowRequest(instance_id=iid, workflow_component="dapr")
    _call(stub, "PauseWorkflow", version, pause)
    wait_until(lambda: _status(stub, version, iid) == "SUSPENDED")
    resume = workflow_pb2.ResumeWorkflowRequest(instance_id=iid, workflow_component="dapr")
    _call(stub, "ResumeWorkflow", version, resume)
    wait_until(lambda: _status(stub, version, iid) == "RUNNING")
    raise_event = workflow_pb2.RaiseEventWorkflowRequest(
        instance_id=iid, workflow_component="dapr", event_name="approved", event_data=b'"yes"'
    )
    _call(stub, "RaiseEventWorkflow", version, raise_event)
    wait_until(lambda: _status(stub, version, iid) == "COMPLETED")
    done = _call(stub, "GetWorkflow", version, workflow_pb2.GetWorkflowRequest(instance_id=iid))
    assert done.properties["dapr.workflow.output"] == '{"order": "pens", "answer": "yes"}'
    assert done.properties["dapr.workflow.custom_status"] == "approved"

    purge = workflow_pb2.PurgeWorkflowRequest(instance_id=iid, workflow_component="dapr")
    _call(stub, "PurgeWorkflow", version, purge)
    # daprd answers an unknown instance with an empty response, not an error.
    gone = _call(stub, "GetWorkflow", version, workflow_pb2.GetWorkflowRequest(instance_id=iid))
    assert gone.instance_id == iid and gone.runtime_status == "" and not gone.workflow_name
    err = _error(lambda: _call(stub, "PurgeWorkflow", version, purge))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == f"unable to find workflow with the provided instance ID: {iid}"


@pytest.mark.parametrize("version", VERSIONS)
def test_terminate_is_recursive_and_start_time_is_honoured(
    version: str, stub: Any, wf_runtime: Callable[..., Any]
) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="parent")
    def parent(ctx: Any, _: Any) -> Any:
        return (yield ctx.call_child_workflow(child, instance_id=f"{ctx.instance_id}-child"))

    @runtime.workflow(name="child")
    def child(ctx: Any, _: Any) -> Any:
        yield ctx.create_timer(timedelta(hours=1))

    runtime.start()
    iid = f"tree-{version}"
    start = workflow_pb2.StartWorkflowRequest(instance_id=iid, workflow_name="parent")
    _call(stub, "StartWorkflow", version, start)
    wait_until(lambda: _status(stub, version, f"{iid}-child") == "RUNNING")
    _call(
        stub, "TerminateWorkflow", version, workflow_pb2.TerminateWorkflowRequest(instance_id=iid)
    )
    wait_until(lambda: _status(stub, version, iid) == "TERMINATED")
    wait_until(lambda: _status(stub, version, f"{iid}-child") == "TERMINATED")

    later = workflow_pb2.StartWorkflowRequest(
        instance_id=f"later-{version}",
        workflow_name="parent",
        options={"dapr.workflow.start_time": "2200-01-01T00:00:00Z"},
    )
    _call(stub, "StartWorkflow", version, later)
    assert _status(stub, version, f"later-{version}") == "PENDING"
    bad_time = workflow_pb2.StartWorkflowRequest(
        workflow_name="parent", options={"dapr.workflow.start_time": "tomorrow"}
    )
    err = _error(lambda: _call(stub, "StartWorkflow", version, bad_time))
    assert err.code() == grpc.StatusCode.INTERNAL and "RFC3339" in err.details()
    too_late = workflow_pb2.StartWorkflowRequest(
        workflow_name="parent", options={"dapr.workflow.start_time": "2999-01-01T00:00:00Z"}
    )
    err = _error(lambda: _call(stub, "StartWorkflow", version, too_late))
    assert err.code() == grpc.StatusCode.INTERNAL and "the latest tether can store" in err.details()


@pytest.mark.parametrize("version", VERSIONS)
def test_daprd_errors(version: str, stub: Any) -> None:
    def code_and_message(name: str, request: Any) -> tuple[grpc.StatusCode, str]:
        err = _error(lambda: _call(stub, name, version, request))
        return err.code(), str(err.details())

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert code_and_message(
        "StartWorkflow", workflow_pb2.StartWorkflowRequest(instance_id="a b", workflow_name="x")
    ) == (
        invalid,
        "workflow instance ID 'a b' is invalid: only alphanumeric and underscore characters "
        "are allowed",
    )
    assert code_and_message(
        "StartWorkflow", workflow_pb2.StartWorkflowRequest(instance_id="x" * 65, workflow_name="x")
    ) == (invalid, "workflow instance ID exceeds the max length of 64 characters")
    assert code_and_message("StartWorkflow", workflow_pb2.StartWorkflowRequest()) == (
        invalid,
        "workflow name is not configured",
    )
    assert code_and_message(
        "StartWorkflow", workflow_pb2.StartWorkflowRequest(workflow_name="x", app_id="a.b")
    ) == (
        invalid,
        "workflow app ID 'a.b' is invalid: only alphanumeric, dash and underscore characters "
        "are allowed",
    )
    for name, request_type in (
        ("GetWorkflow", workflow_pb2.GetWorkflowRequest),
        ("TerminateWorkflow", workflow_pb2.TerminateWorkflowRequest),
        ("PauseWorkflow", workflow_pb2.PauseWorkflowRequest),
        ("ResumeWorkflow", workflow_pb2.ResumeWorkflowRequest),
        ("PurgeWorkflow", workflow_pb2.PurgeWorkflowRequest),
        ("RaiseEventWorkflow", workflow_pb2.RaiseEventWorkflowRequest),
    ):
        assert code_and_message(name, request_type()) == (invalid, "no instance ID was provided")
    assert code_and_message(
        "RaiseEventWorkflow", workflow_pb2.RaiseEventWorkflowRequest(instance_id="nosuch")
    ) == (invalid, "missing workflow event name")

    not_found = (
        grpc.StatusCode.NOT_FOUND,
        "unable to find workflow with the provided instance ID: nosuch",
    )
    assert (
        code_and_message(
            "TerminateWorkflow", workflow_pb2.TerminateWorkflowRequest(instance_id="nosuch")
        )
        == not_found
    )
    code, message = code_and_message(
        "PauseWorkflow", workflow_pb2.PauseWorkflowRequest(instance_id="nosuch")
    )
    assert code == grpc.StatusCode.INTERNAL
    assert message.startswith("error pausing workflow nosuch: failed to pause workflow nosuch: ")
    code, message = code_and_message(
        "RaiseEventWorkflow",
        workflow_pb2.RaiseEventWorkflowRequest(instance_id="nosuch", event_name="e"),
    )
    assert code == grpc.StatusCode.INTERNAL
    assert message.startswith("error raising event on workflow 'nosuch': failed to raise event e")
    # Any component name reaches the one engine, as in daprd since 1.15.
    got = _call(
        stub,
        "GetWorkflow",
        version,
        workflow_pb2.GetWorkflowRequest(instance_id="nosuch", workflow_component="other"),
    )
    assert got.instance_id == "nosuch" and got.runtime_status == ""


def test_metadata_and_other_building_blocks(
    stub: Any, wf_runtime: Callable[..., Any], sidecar: SidecarProcess
) -> None:
    _waiting_workflow(wf_runtime)

    def workers() -> int:
        meta = stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=10)
        return int(meta.workflows.connected_workers)

    wait_until(lambda: workers() >= 1)
    meta = stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=10)
    assert meta.id == "testapp"
    assert [(c.name, c.type) for c in meta.registered_components] == [("dapr", "workflow.dapr")]
    assert meta.runtime_version.startswith("tether ")

    err = _error(
        lambda: stub.GetState(state_pb2.GetStateRequest(store_name="s", key="k"), timeout=5)
    )
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "GetState" in str(err.details()) and "workflows only" in str(err.details())
    # A streaming call is refused the same way.
    stream = stub.SubscribeTopicEventsAlpha1(iter(()), timeout=5)
    err = _error(lambda: next(iter(stream)))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "workflows only" in str(err.details())


# -- seed 000 with the Python SDK 1.17 --------------------------------------------------------
SDK_1_17 = ("dapr-1.17.5", ["dapr==1.17.5"])


def _seed_000_worker(wf_runtime: Callable[..., Any]) -> dict[str, Any]:
    """The workflows of the SDK demo_workflow example: hello_world_wf, retries, children."""
    import dapr.ext.workflow as wf

    seen: dict[str, Any] = {"counter": 0, "retries": 0, "children": "", "child_runs": 0}
    retry = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=200),
        max_number_of_attempts=3,
        backoff_coefficient=1,
        retry_timeout=timedelta(seconds=60),
    )
    runtime = wf_runtime()

    @runtime.workflow(name="hello_world_wf")
    def hello_world_wf(ctx: Any, wf_input: Any) -> Any:
        yield ctx.call_activity(hello_act, input=1)
        yield ctx.call_activity(hello_act, input=10)
        yield ctx.call_activity(hello_retryable_act, retry_policy=retry)
        yield ctx.call_child_workflow(child_retryable_wf, retry_policy=retry)
        yield ctx.call_child_workflow(child_wf, instance_id="childInstanceID")
        yield ctx.call_activity(hello_act, input=100)
        yield ctx.call_activity(hello_act, input=1000)

    @runtime.workflow(name="child_wf")
    def child_wf(ctx: Any) -> Any:
        yield ctx.wait_for_external_event("event1")

    @runtime.workflow(name="child_retryable_wf")
    def child_retryable_wf(ctx: Any) -> Any:
        if not ctx.is_replaying:
            seen["child_runs"] += 1
        yield ctx.call_activity(act_for_child_wf, input=seen["child_runs"], retry_policy=retry)
        if seen["child_runs"] < 3:
            raise ValueError("Retryable Error")

    @runtime.activity(name="hello_act")
    def hello_act(ctx: Any, wf_input: int) -> None:
        seen["counter"] += wf_input

    @runtime.activity(name="hello_retryable_act")
    def hello_retryable_act(ctx: Any) -> None:
        seen["retries"] += 1
        if seen["retries"] % 2 == 1:
            raise ValueError("Retryable Error")

    @runtime.activity(name="act_for_child_wf")
    def act_for_child_wf(ctx: Any, inp: int) -> None:
        seen["children"] += chr(96 + inp)

    runtime.start()
    return seen


def test_seed_000_with_sdk_1_17(
    wf_runtime: Callable[..., Any], sidecar: SidecarProcess, tmp_path: Path
) -> None:
    python = _venv_python(*SDK_1_17)
    seen = _seed_000_worker(wf_runtime)
    env = sidecar.env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), str(APPS / "seed000_client.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "start_resp exampleInstanceID",
        "Get response from hello_world_wf after pause call: Suspended",
        "Get response from hello_world_wf after resume call: Running",
        "Get response from hello_world_wf after the event: Completed",
        "Instance Successfully Purged",
        "start_resp exampleInstanceID",
        "Get response from hello_world_wf after terminate call: Terminated",
        "Get response from child_wf after terminate call: Terminated",
        "Instance Successfully Purged",
        "terminate unknown: unable to find workflow with the provided instance ID: nosuch",
    ]
    assert seen["counter"] >= 1111


def test_metadata_reports_the_app_connection(tmp_path: Path) -> None:
    sidecar = SidecarProcess(
        tmp_path / "t.db", app_id="web", extra_args=["--app-port", "8080", "-P", "grpc"]
    ).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
            meta = dapr_pb2_grpc.DaprStub(channel).GetMetadata(
                metadata_pb2.GetMetadataRequest(), timeout=10
            )
    finally:
        sidecar.stop()
    props = meta.app_connection_properties
    assert (meta.id, props.port, props.protocol, props.channel_address) == (
        "web",
        8080,
        "grpc",
        "127.0.0.1",
    )
