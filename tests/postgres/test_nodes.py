"""Several ``tether serve`` nodes of one app on one PostgreSQL (the current ownership model):
an event raised through one node reaches an instance another node runs (LISTEN/NOTIFY), and
the instances of a killed node are taken over by a live one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.conformance._support import Raw
from tether.testing import SidecarProcess


@pytest.fixture
def two_nodes(pg_url: str, tmp_path: Path) -> Iterator[tuple[SidecarProcess, SidecarProcess]]:
    first = SidecarProcess(pg_url, app_id="testapp", home=tmp_path / "a" / "home").start()
    second = SidecarProcess(pg_url, app_id="testapp", home=tmp_path / "b" / "home").start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def _runtime(port: int) -> Any:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))

    @runtime.workflow(name="waiter")
    def waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        value = yield ctx.wait_for_external_event("go")
        return f"got {value}"

    @runtime.workflow(name="double")
    def double(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        return (yield ctx.call_activity(twice, input=x))

    @runtime.activity(name="twice")
    def twice(ctx: Any, x: int) -> int:
        return 2 * x

    return runtime


def test_an_event_raised_on_one_node_reaches_the_instance_another_runs(
    two_nodes: tuple[SidecarProcess, SidecarProcess],
) -> None:
    first, second = two_nodes
    runtime = _runtime(second.grpc_port)
    runtime.start()
    try:
        client_b = wf.DaprWorkflowClient(host="127.0.0.1", port=str(second.grpc_port))
        client_a = wf.DaprWorkflowClient(host="127.0.0.1", port=str(first.grpc_port))
        client_b.schedule_new_workflow("waiter", instance_id="w1")
        client_b.wait_for_workflow_start("w1", timeout_in_seconds=30)
        client_a.raise_workflow_event("w1", "go", data="from a")
        done = client_b.wait_for_workflow_completion("w1", timeout_in_seconds=30)
        assert done.serialized_output == '"got from a"'
    finally:
        with contextlib.suppress(Exception):
            runtime.shutdown()


def test_a_killed_nodes_instances_are_taken_over(
    two_nodes: tuple[SidecarProcess, SidecarProcess],
) -> None:
    first, second = two_nodes
    raw = Raw(first.grpc_port)
    for i in range(5):  # started on the first node, which has no worker: they wait there
        raw.start("double", f"d{i}", input_json=str(i))
    raw.close()
    first.kill()
    runtime = _runtime(second.grpc_port)
    runtime.start()
    try:
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(second.grpc_port))
        outputs = [
            client.wait_for_workflow_completion(f"d{i}", timeout_in_seconds=60).serialized_output
            for i in range(5)
        ]
        assert outputs == [str(2 * i) for i in range(5)]
    finally:
        with contextlib.suppress(Exception):
            runtime.shutdown()
