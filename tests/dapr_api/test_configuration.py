"""A Dapr Configuration given to ``tether serve --config``: concurrency limits and state retention,
with the official SDK against a real sidecar."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tether.engine.dispatch import Dispatcher, Work
from tether.testing import SidecarProcess


def _sidecar(tmp_path: Path, config: str, **env: str) -> SidecarProcess:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    return SidecarProcess(tmp_path / "t.db", extra_args=["--config", str(path)], env=env).start()


@contextlib.contextmanager
def _runtime(sidecar: SidecarProcess) -> Iterator[tuple[Any, Any]]:
    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port))
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
    try:
        yield runtime, client
    finally:
        with contextlib.suppress(Exception):
            runtime.shutdown()


LIMITED = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: limits
spec:
  workflow:
    maxConcurrentActivityInvocations: 2
"""


@pytest.mark.parametrize(
    ("env", "limit"), [({}, 2), ({"TETHER_MAX_CONCURRENT_ACTIVITIES": "3"}, 3)]
)
def test_activities_in_flight_never_exceed_the_limit(
    tmp_path: Path, env: dict[str, str], limit: int
) -> None:
    """Each activity waits until one more than the limit run together (or a second passes): with
    the limit honoured that never happens; without it the fan-out reaches it at once."""
    sidecar = _sidecar(tmp_path, LIMITED, **env)
    lock = threading.Lock()
    running = {"now": 0, "most": 0}
    crowd = threading.Condition(lock)
    try:
        with _runtime(sidecar) as (runtime, client):

            @runtime.activity(name="busy")
            def busy(ctx: Any, n: int) -> int:
                with crowd:
                    running["now"] += 1
                    running["most"] = max(running["most"], running["now"])
                    crowd.notify_all()
                    crowd.wait_for(lambda: running["now"] > limit, timeout=1.0)
                    running["now"] -= 1
                return n

            @runtime.workflow(name="fan")
            def fan(ctx: Any, _: Any) -> Any:
                import dapr.ext.workflow as wf

                return sum(
                    (yield wf.when_all([ctx.call_activity(busy, input=i) for i in range(6)]))
                )

            runtime.start()
            client.schedule_new_workflow("fan", instance_id="fan-1")
            state = client.wait_for_workflow_completion("fan-1", timeout_in_seconds=60)
    finally:
        sidecar.stop()
    assert state is not None and state.serialized_output == "15"
    assert running["most"] == limit


def test_dispatcher_holds_turns_beyond_the_limit_in_order() -> None:
    dispatcher = Dispatcher({"turn": 2})
    sent: list[str] = []
    stream = dispatcher.connect([])

    def work(name: str) -> Work:
        return Work(
            kind="turn", instance_id=name, execution_id="e", build=lambda s: sent.append(name)
        )

    items = [work(f"i{n}") for n in range(5)]
    for item in items:
        dispatcher.send(item)
    assert sent == ["i0", "i1"] and dispatcher.in_flight("turn") == 2
    dispatcher.finish(items[1])
    assert sent == ["i0", "i1", "i2"]
    dispatcher.finish(items[3])  # finished while held: never sent
    dispatcher.finish(items[0])
    assert sent == ["i0", "i1", "i2", "i4"]
    # A stream that breaks frees its items; held ones wait for a stream.
    orphans = dispatcher.disconnect(stream)
    assert {w.instance_id for w in orphans} == {"i2", "i4"}
    assert dispatcher.in_flight("turn") == 0


RETENTION = """\
kind: Configuration
spec:
  workflow:
    stateRetentionPolicy:
      anyTerminal: 1h
      completed: 1s
      failed: 0s
"""


def test_state_retention_purges_terminal_instances_with_their_children(tmp_path: Path) -> None:
    sidecar = _sidecar(tmp_path, RETENTION)
    try:
        with _runtime(sidecar) as (runtime, client):

            @runtime.workflow(name="child")
            def child(ctx: Any, _: Any) -> str:
                return "done"

            @runtime.workflow(name="parent")
            def parent(ctx: Any, _: Any) -> Any:
                return (yield ctx.call_child_workflow(child, instance_id="kid"))

            @runtime.workflow(name="boom")
            def boom(ctx: Any, _: Any) -> Any:
                raise ValueError("boom")

            @runtime.workflow(name="wait")
            def wait(ctx: Any, _: Any) -> Any:
                yield ctx.create_timer(timedelta(hours=1))

            runtime.start()
            client.schedule_new_workflow("parent", instance_id="p")
            client.schedule_new_workflow("boom", instance_id="b")
            client.schedule_new_workflow("wait", instance_id="t")
            done = client.wait_for_workflow_completion("p", timeout_in_seconds=30)
            assert done is not None and done.runtime_status.name == "COMPLETED"
            client.wait_for_workflow_start("t", timeout_in_seconds=30)
            client.terminate_workflow("t")
            client.wait_for_workflow_completion("t", timeout_in_seconds=30)

            def gone(iid: str) -> bool:
                return client.get_workflow_state(iid) is None

            wait_until(lambda: gone("b"), timeout=20)
            wait_until(lambda: gone("p") and gone("kid"), timeout=20)
            # Kept for its own second at least.
            kept = datetime.now(UTC) - done.last_updated_at.replace(tzinfo=UTC)
            assert kept >= timedelta(seconds=1)
            state = client.get_workflow_state("t")  # anyTerminal: an hour
            assert state is not None and state.runtime_status.name == "TERMINATED"
    finally:
        sidecar.stop()
    assert "retention: purged 'p' (COMPLETED, kept 1s) with 1 child instance(s)" in (
        sidecar.log_path.read_text()
    )


@pytest.mark.parametrize("refuse", [False, True])
def test_second_start_of_a_running_id(tmp_path: Path, refuse: bool) -> None:
    """Default: the running instance is returned (seed 003); ``--refuse-duplicate-start``: daprd's
    "an active workflow with ID … already exists"."""
    import grpc

    extra = ["--refuse-duplicate-start"] if refuse else []
    sidecar = SidecarProcess(tmp_path / "t.db", extra_args=extra).start()
    try:
        with _runtime(sidecar) as (runtime, client):

            @runtime.workflow(name="wait")
            def wait(ctx: Any, _: Any) -> Any:
                yield ctx.wait_for_external_event("go")

            runtime.start()
            assert client.schedule_new_workflow("wait", instance_id="same") == "same"
            client.wait_for_workflow_start("same", timeout_in_seconds=30)
            if refuse:
                with pytest.raises(grpc.RpcError) as info:
                    client.schedule_new_workflow("wait", instance_id="same")
                assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
                assert "an active workflow with ID 'same' already exists" in info.value.details()
            else:
                assert client.schedule_new_workflow("wait", instance_id="same") == "same"
    finally:
        sidecar.stop()
