"""Multi-app workflows: three ``tether serve`` processes (app1, app2, app3) on one SQLite file.

Each app has its own SDK worker subprocess (tests/integration/apps/multiapp_worker.py). A
workflow in app1 calls a child workflow in app2, which calls an activity in app3; the processes
learn about each other's writes only through the shared store (PRAGMA data_version polling).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    APPS,
    WorkerProcess,
    count_in,
    free_port,
    sdk_env,
    wait_until,
)
from tether import pb
from tether.testing import SidecarProcess

WORKER = APPS / "multiapp_worker.py"
APP_IDS = ("app1", "app2", "app3")


@dataclass
class Cluster:
    db: Path
    record: Path
    sidecars: dict[str, SidecarProcess]
    workers: dict[str, WorkerProcess]

    def client(self, app: str) -> Any:
        import dapr.ext.workflow as wf

        return wf.DaprWorkflowClient(host="127.0.0.1", port=str(self.sidecars[app].grpc_port))

    def history(self, instance_id: str) -> list[Any]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
            ).fetchall()
        return [pb.HistoryEvent.FromString(r[0]) for r in rows]

    def app_of(self, instance_id: str) -> str:
        with sqlite3.connect(self.db) as conn:
            return str(
                conn.execute(
                    "SELECT app_id FROM instances WHERE instance_id = ?", (instance_id,)
                ).fetchone()[0]
            )

    def records(self, kind: str, instance_id: str) -> list[float]:
        out = []
        for line in self.record.read_text().splitlines():
            parts = line.split()
            if parts[0] == kind and parts[1] == instance_id:
                out.append(float(parts[2]))
        return out


def _sidecar(db: Path, app: str, port: int, n: int) -> SidecarProcess:
    return SidecarProcess(
        db,
        app_id=app,
        home=db.parent / "home",
        extra_args=["--grpc-port", str(port)],
        log_path=db.parent / f"tether-{app}-{n}.log",
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("multiapp")
    db = root / "tether.db"
    record = root / "app3-activities.log"
    record.touch()
    sidecars: dict[str, SidecarProcess] = {}
    workers: dict[str, WorkerProcess] = {}
    try:
        for app in APP_IDS:
            # Same store file and same TETHER_HOME for all three, as `tether run` apps share them.
            # Fixed ports, so a sidecar restarted after a crash is where its worker looks for it.
            sidecars[app] = _sidecar(db, app, free_port(), 0).start()
        for app in APP_IDS:
            workers[app] = WorkerProcess(
                WORKER,
                [app, str(record)],
                sdk_env(sidecars[app].grpc_port),
                root / f"worker-{app}.log",
            ).start()
        for app in APP_IDS:
            log = sidecars[app].log_path
            wait_until(
                lambda p=log: count_in(p, "connected (capabilities") >= 1, 30, f"{app}'s worker"
            )
        yield Cluster(db, record, sidecars, workers)
    finally:
        for worker in workers.values():
            worker.stop()
        for sidecar in sidecars.values():
            sidecar.stop()


def _ts(event: Any) -> float:
    return float(event.timestamp.seconds + event.timestamp.nanos / 1e9)


def _first(events: list[Any], field: str, after: float = 0.0) -> Any:
    return next(e for e in events if e.HasField(field) and _ts(e) >= after)


def _done(state: Any) -> bool:
    return state is not None and state.runtime_status.name in ("COMPLETED", "FAILED", "TERMINATED")


def test_parent_in_app1_child_in_app2_activity_in_app3(cluster: Cluster) -> None:
    client = cluster.client("app1")
    runs = 5
    ids = [f"xapp-{i}" for i in range(runs)]
    started = time.monotonic()
    for i, instance_id in enumerate(ids):
        client.schedule_new_workflow("parent", input=f"hello-{i}", instance_id=instance_id)
    hops: dict[str, list[float]] = {
        "app1->app2": [],
        "app2->app3": [],
        "app3->app2": [],
        "app2->app1": [],
    }
    totals: list[float] = []
    for i, instance_id in enumerate(ids):
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None
        assert state.runtime_status.name == "COMPLETED", state.failure_details
        assert json.loads(state.serialized_output) == f"app1(app2(app3(HELLO-{i}!)))"
        parent = cluster.history(instance_id)
        created = _first(parent, "childWorkflowInstanceCreated")
        child_id = created.childWorkflowInstanceCreated.instanceId
        assert cluster.app_of(instance_id) == "app1"
        assert cluster.app_of(child_id) == "app2"
        child_state = cluster.client("app2").get_workflow_state(child_id)
        assert child_state is not None and child_state.runtime_status.name == "COMPLETED"
        child = cluster.history(child_id)
        scheduled = _first(child, "taskScheduled")
        assert scheduled.router.targetAppID == "app3"
        assert created.router.targetAppID == "app2"
        task_done = _first(child, "taskCompleted")
        child_end = _first(child, "executionCompleted")
        parent_end = _first(parent, "executionCompleted")
        (activity_start,) = cluster.records("shout", child_id)
        hops["app1->app2"].append(_ts(_first(child, "workflowStarted")) - _ts(created))
        hops["app2->app3"].append(activity_start - _ts(scheduled))
        hops["app3->app2"].append(
            _ts(_first(child, "workflowStarted", _ts(task_done))) - _ts(task_done)
        )
        hops["app2->app1"].append(
            _ts(_first(parent, "workflowStarted", _ts(child_end))) - _ts(child_end)
        )
        totals.append(_ts(parent_end) - _ts(_first(parent, "workflowStarted")))
    report = {
        hop: {"median_ms": round(statistics.median(v) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
        for hop, v in hops.items()
    }
    report["end_to_end"] = {
        "median_ms": round(statistics.median(totals) * 1000, 1),
        "max_ms": round(max(totals) * 1000, 1),
    }
    print(
        f"\nmulti-app hop timings over {runs} runs ({time.monotonic() - started:.1f}s):",
        json.dumps(report),
    )
    for hop, values in hops.items():
        # Each hop is one commit + one data_version poll (20 ms) + a scan; be generous for CI.
        assert max(values) < 2.0, (hop, values)


def test_activity_failing_in_app3_surfaces_in_app2(cluster: Cluster) -> None:
    client = cluster.client("app2")
    instance_id = "xapp-activity-fails"
    client.schedule_new_workflow("child_catches", input="boom", instance_id=instance_id)
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    caught = json.loads(state.serialized_output)
    assert caught["caught"] == "TaskFailedError"
    assert caught["type"] == "ValueError"
    assert "app3 cannot handle 'boom'" in caught["message"]
    assert len(cluster.records("always_fails", instance_id)) == 3  # the retry policy's attempts


def test_child_failing_in_app2_surfaces_in_app1(cluster: Cluster) -> None:
    client = cluster.client("app1")
    client.schedule_new_workflow("parent_of_failing", input="kaput", instance_id="xapp-child-fails")
    client.schedule_new_workflow("parent_fails", input="kaput", instance_id="xapp-parent-fails")

    state = client.wait_for_workflow_completion("xapp-child-fails", timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    caught = json.loads(state.serialized_output)
    assert caught["caught"] == "TaskFailedError"
    assert "app3 cannot handle 'kaput'" in caught["message"]

    state = client.wait_for_workflow_completion("xapp-parent-fails", timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "FAILED"
    assert state.failure_details is not None
    assert "app3 cannot handle 'kaput'" in state.failure_details.message

    for parent_id in ("xapp-child-fails", "xapp-parent-fails"):
        created = _first(cluster.history(parent_id), "childWorkflowInstanceCreated")
        child_id = created.childWorkflowInstanceCreated.instanceId
        assert cluster.app_of(child_id) == "app2"
        child = wait_until(
            lambda c=child_id: (
                (s := cluster.client("app2").get_workflow_state(c)) and _done(s) and s
            ),
            10,
            "the child's final state",
        )
        assert child.runtime_status.name == "FAILED"
        assert len(cluster.records("always_fails", child_id)) == 3


def test_app2_and_app3_sidecars_killed_mid_flight(cluster: Cluster) -> None:
    """SIGKILL the child's and the activity's sidecars while parents are in flight; restart them
    on the same file and ports: the workers reconnect and every parent completes."""
    client = cluster.client("app1")
    ids = [f"xapp-crash-{i}" for i in range(20)]
    for i, instance_id in enumerate(ids):
        client.schedule_new_workflow("parent", input=f"crash-{i}", instance_id=instance_id)
    # Kill once some, but not all, activities in app3 have started.
    wait_until(
        lambda: sum(line.startswith("shout xapp-crash-") for line in _lines(cluster.record)) >= 3,
        30,
        "the first cross-app activities",
    )
    for app in ("app2", "app3"):
        cluster.sidecars[app].kill()
    for app in ("app2", "app3"):
        old = cluster.sidecars[app]
        port = int(old.extra_args[-1])
        cluster.sidecars[app] = _sidecar(cluster.db, app, port, 1).start()
    for app in ("app2", "app3"):
        log = cluster.sidecars[app].log_path
        wait_until(lambda p=log: count_in(p, "connected (capabilities") >= 1, 40, f"{app}'s worker")
    for i, instance_id in enumerate(ids):
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None and state.runtime_status.name == "COMPLETED", (instance_id, state)
        assert json.loads(state.serialized_output) == f"app1(app2(app3(CRASH-{i}!)))"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()
