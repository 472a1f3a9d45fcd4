"""Helpers for the conformance suite: raw gRPC access to the sidecar and a hand-driven worker.

The official SDK covers the normal paths. For protocol-level checks (duplicate completions, stale
tokens, deltas, disconnects) the tests act as a worker themselves: :class:`FakeWorker` opens a
``GetWorkItems`` stream with chosen capabilities and answers work items by hand.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from tether import pb
from tether.store.factory import is_postgres
from tether.testing import SidecarProcess

# The conformance suite runs on both doors into the engine (see tests/conftest.py).
DOORS = ["sidecar", "embedded"]

# Tests that are about the gRPC wire itself run on the sidecar only: they drive a worker stream
# by hand (FakeWorker: tokens, deltas, disconnects), which would compete with the embedded
# node's in-process worker, or they restart/kill the sidecar process.
SIDECAR_ONLY = (
    "tests/conformance/test_protocol.py::",  # hand-driven worker streams and raw stubs
    "tests/conformance/test_restart.py::",  # kills and restarts the `tether serve` process
    # the CLI as a subprocess finds a `tether serve` through the per-user registry
    "tests/conformance/test_ids.py::test_cli_escapes_control_characters",
)


def door_for(nodeid: str, doors: list[str]) -> list[str]:
    if any(nodeid.startswith(prefix) for prefix in SIDECAR_ONLY):
        return ["sidecar"]
    if not nodeid.startswith("tests/conformance/"):
        return ["sidecar"]
    return doors


class EmbeddedDoor:
    """The embedded door shaped like :class:`SidecarProcess`: an embedded node in this process
    that also serves the gRPC and HTTP ports, with the embedded runtime and client on it."""

    def __init__(self, store_path: Any, *, app_id: str = "testapp") -> None:
        from tether.embedded import node

        self.store_path = store_path
        self.app_id = app_id
        self.store_url = f"sqlite:///{store_path}"
        self._node_module = node
        self.node: Any = None
        self.runtimes: list[Any] = []

    @property
    def grpc_port(self) -> int:
        return int(self.node.grpc_port)

    @property
    def http_port(self) -> int:
        return int(self.node.http_port)

    def start(self) -> EmbeddedDoor:
        self.node = self._node_module.acquire(self.app_id, self.store_url, serve=True)
        return self

    def stop(self) -> None:
        if self.node is not None:
            self._node_module.release(self.node)
            self.node = None

    def runtime(self, **kwargs: Any) -> Any:
        import os

        from tether.embedded import WorkflowRuntime

        verify = os.environ.get("TETHER_STICKY_VERIFY", "1") != "0"
        runtime = WorkflowRuntime(
            app_id=self.app_id, store=self.store_url, verify_sticky=verify, **kwargs
        )
        self.runtimes.append(runtime)
        return runtime

    def client(self) -> Any:
        from tether.embedded import DaprWorkflowClient

        return DaprWorkflowClient(app_id=self.app_id, store=self.store_url)

    def assert_sticky_matched_replay(self) -> None:
        from tether.embedded import sticky_mismatches

        mismatches = [m for r in self.runtimes for m in sticky_mismatches(r)]
        assert not mismatches, "a sticky turn differed from a replay:\n" + mismatches[0]

SERVICE = "/TaskHubSidecarService/"

_UNARY: dict[str, tuple[Any, Any]] = {
    "Hello": (pb.Empty, pb.Empty),
    "StartInstance": (pb.CreateInstanceRequest, pb.CreateInstanceResponse),
    "GetInstance": (pb.GetInstanceRequest, pb.GetInstanceResponse),
    "WaitForInstanceStart": (pb.GetInstanceRequest, pb.GetInstanceResponse),
    "WaitForInstanceCompletion": (pb.GetInstanceRequest, pb.GetInstanceResponse),
    "RaiseEvent": (pb.RaiseEventRequest, pb.RaiseEventResponse),
    "TerminateInstance": (pb.TerminateRequest, pb.TerminateResponse),
    "SuspendInstance": (pb.SuspendRequest, pb.SuspendResponse),
    "ResumeInstance": (pb.ResumeRequest, pb.ResumeResponse),
    "PurgeInstances": (pb.PurgeInstancesRequest, pb.PurgeInstancesResponse),
    "CompleteActivityTask": (pb.ActivityResponse, pb.CompleteTaskResponse),
    "CompleteOrchestratorTask": (pb.WorkflowResponse, pb.CompleteTaskResponse),
    "CompleteWorkflowTask": (pb.WorkflowResponse, pb.CompleteTaskResponse),
    "RerunWorkflowFromEvent": (pb.RerunWorkflowFromEventRequest, pb.RerunWorkflowFromEventResponse),
    "ListInstanceIDs": (pb.ListInstanceIDsRequest, pb.ListInstanceIDsResponse),
    "GetInstanceHistory": (pb.GetInstanceHistoryRequest, pb.GetInstanceHistoryResponse),
}


class Raw:
    """Unary calls of ``TaskHubSidecarService`` with tether's message classes."""

    def __init__(self, port: int, options: list[tuple[str, Any]] | None = None) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options or [])

    def call(self, method: str, request: Any, timeout: float = 30.0) -> Any:
        req_type, resp_type = _UNARY[method]
        fn = self.channel.unary_unary(
            SERVICE + method,
            request_serializer=req_type.SerializeToString,
            response_deserializer=resp_type.FromString,
        )
        return fn(request, timeout=timeout)

    def start(
        self, name: str, instance_id: str, input_json: str | None = None, **fields: Any
    ) -> str:
        request = pb.CreateInstanceRequest(name=name, instanceId=instance_id, **fields)
        if input_json is not None:
            request.input.value = input_json
        return str(self.call("StartInstance", request).instanceId)

    def state(self, instance_id: str) -> Any:
        response = self.call(
            "GetInstance", pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
        )
        return response.workflowState if response.exists else None

    def status(self, instance_id: str) -> str | None:
        state = self.state(instance_id)
        return None if state is None else pb.STATUS_NAMES[state.workflowStatus]

    def history(self, instance_id: str) -> list[Any]:
        response = self.call(
            "GetInstanceHistory", pb.GetInstanceHistoryRequest(instanceId=instance_id)
        )
        return list(response.events)

    def close(self) -> None:
        self.channel.close()


def kinds(events: list[Any]) -> list[str]:
    return [e.WhichOneof("eventType") for e in events]


class FakeWorker:
    """A worker driven by the test: a ``GetWorkItems`` stream whose items land in a queue."""

    def __init__(
        self,
        port: int,
        capabilities: list[int] | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.raw = Raw(port, options)
        self.items: queue.Queue[Any] = queue.Queue()
        request = pb.GetWorkItemsRequest()
        if capabilities:
            request.capabilities.extend(capabilities)
        self.raw.call("Hello", pb.Empty())
        stream = self.raw.channel.unary_stream(
            SERVICE + "GetWorkItems",
            request_serializer=pb.GetWorkItemsRequest.SerializeToString,
            response_deserializer=pb.WorkItem.FromString,
        )
        self.call = stream(request)
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self.call:
                if item.WhichOneof("request") is not None:
                    self.items.put(item)
        except grpc.RpcError:
            pass
        finally:
            self.ended.set()

    def next(self, kind: str | None = None, timeout: float = 15.0) -> Any:
        """The next work item (of type ``kind`` when given: workflowRequest/activityRequest)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind or 'work item'} within {timeout}s")
            try:
                item = self.items.get(timeout=remaining)
            except queue.Empty:
                continue
            if kind is None or item.WhichOneof("request") == kind:
                return item
            raise AssertionError(f"expected {kind}, got {item.WhichOneof('request')}")

    def no_item(self, within: float) -> None:
        try:
            item = self.items.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected work item: {item}")

    def turn(self, timeout: float = 15.0) -> Any:
        return self.next("workflowRequest", timeout)

    def activity(self, timeout: float = 15.0) -> Any:
        return self.next("activityRequest", timeout)

    def respond(self, item: Any, *actions: Any, custom_status: str | None = None) -> None:
        response = pb.WorkflowResponse(
            instanceId=item.workflowRequest.instanceId, completionToken=item.completionToken
        )
        response.actions.extend(actions)
        if custom_status is not None:
            response.customStatus.value = custom_status
        self.raw.call("CompleteOrchestratorTask", response)

    def finish_activity(
        self, item: Any, result: str | None = None, token: str | None = None
    ) -> None:
        req = item.activityRequest
        response = pb.ActivityResponse(
            instanceId=req.workflowInstance.instanceId,
            taskId=req.taskId,
            completionToken=item.completionToken if token is None else token,
        )
        if result is not None:
            response.result.value = result
        self.raw.call("CompleteActivityTask", response)

    def close(self) -> None:
        self.call.cancel()
        self.ended.wait(5)
        self.raw.close()


def schedule_task(action_id: int, name: str, input_json: str | None = None) -> Any:
    action = pb.WorkflowAction(id=action_id)
    action.scheduleTask.name = name
    if input_json is not None:
        action.scheduleTask.input.value = input_json
    return action


def create_timer(action_id: int, fire_at_ns: int) -> Any:
    action = pb.WorkflowAction(id=action_id)
    action.createTimer.fireAt.seconds, action.createTimer.fireAt.nanos = divmod(fire_at_ns, 10**9)
    return action


def complete(action_id: int, result: str | None = None, status: int = pb.COMPLETED) -> Any:
    action = pb.WorkflowAction(id=action_id)
    action.completeWorkflow.workflowStatus = status
    if result is not None:
        action.completeWorkflow.result.value = result
    return action


def restart(sidecar: SidecarProcess, *, kill: bool = False) -> SidecarProcess:
    """Stop (or kill) a sidecar and start a new one on the same store and home."""
    if kill:
        sidecar.kill()
    else:
        sidecar.stop()
    fresh = SidecarProcess(sidecar.store, app_id=sidecar.app_id, home=sidecar.home)
    return fresh.start()


def store_sql(sidecar: SidecarProcess, statement: str) -> None:
    """Run one SQL statement on the sidecar's store behind its back (either backend)."""
    if not is_postgres(str(sidecar.store)):
        with sqlite3.connect(sidecar.store_path) as db:
            db.execute(statement)
        return
    import psycopg

    from tether.store.postgres.config import parse_target

    target = parse_target(str(sidecar.store))
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {target.schema}")
        conn.execute(statement.encode())


def rpc_code(fn: Callable[[], Any]) -> grpc.StatusCode:
    """The status code ``fn`` fails with (fails the test if it succeeds)."""
    try:
        fn()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    raise AssertionError("the call succeeded")


def rpc_error(fn: Callable[[], Any]) -> grpc.RpcError:
    try:
        fn()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded")
