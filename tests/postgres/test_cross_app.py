"""Multi-app workflows on PostgreSQL: three ``tether serve`` nodes (app1, app2, app3) on one
database, each with its own SDK worker subprocess (the SQLite suite's worker script,
tests/integration/apps/multiapp_worker.py). A workflow in app1 calls a child workflow in app2,
which calls an activity in app3; the nodes learn of each other's writes only through the store
(LISTEN/NOTIFY). The same shapes and assertions as tests/integration/test_multiapp.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import APPS, WorkerProcess, count_in, free_port, sdk_env, wait_until
from tether import pb
from tether.testing import SidecarProcess

WORKER = APPS / "multiapp_worker.py"
APP_IDS = ("app1", "app2", "app3")
# Short leases: a SIGKILLed node's work moves to its restarted successor within seconds.
NODE_ENV = {"TETHER_NODE_LEASE_SECONDS": "5"}


@dataclass
class Apps:
    url: str
    root: Path
    record: Path
    ports: dict[str, int]
    sidecars: dict[str, SidecarProcess] = field(default_factory=dict)
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    _starts: int = 0

    def start_node(self, app: str) -> SidecarProcess:
        """app's ``tether serve`` on its fixed port (so its worker finds a restarted one)."""
        self._starts += 1
        sidecar = SidecarProcess(
            self.url,
            app_id=app,
            home=self.root / app / "home",
            extra_args=["--grpc-port", str(self.ports[app])],
            env=NODE_ENV,
            log_path=self.root / f"tether-{app}-{self._starts}.log",
        ).start()
        self.sidecars[app] = sidecar
        return sidecar

    def start_worker(self, app: str) -> None:
        self.workers[app] = WorkerProcess(
            WORKER,
            [app, str(self.record)],
            sdk_env(self.ports[app]),
            self.root / f"worker-{app}.log",
        ).start()

    def wait_connected(self, app: str) -> None:
        log = self.sidecars[app].log_path
        wait_until(lambda: count_in(log, "connected (capabilities") >= 1, 40, f"{app}'s worker")

    def client(self, app: str) -> Any:
        import dapr.ext.workflow as wf

        return wf.DaprWorkflowClient(host="127.0.0.1", port=str(self.ports[app]))

    def history(self, instance_id: str) -> list[Any]:
        rows = self._query(
            "SELECT event FROM tether.history WHERE instance_id = %s ORDER BY seq", instance_id
        )
        return [pb.HistoryEvent.FromString(bytes(r[0])) for r in rows]

    def app_of(self, instance_id: str) -> str:
        rows = self._query(
            "SELECT app_id FROM tether.instances WHERE instance_id = %s", instance_id
        )
        return str(rows[0][0])

    def activity_starts(self, kind: str, instance_id: str) -> int:
        lines = self.record.read_text().splitlines()
        return sum(1 for line in lines if line.split()[:2] == [kind, instance_id])

    def _query(self, sql: str, *args: Any) -> list[Any]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def apps(pg_databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    root = tmp_path_factory.mktemp("pg-multiapp")
    url: str = pg_databases.new()
    record = root / "app3-activities.log"
    record.touch()
    cluster = Apps(url, root, record, {app: free_port() for app in APP_IDS})
    try:
        for app in APP_IDS:  # each app its own node, home and worker: as on separate machines
            cluster.start_node(app)
            cluster.start_worker(app)
        for app in APP_IDS:
            cluster.wait_connected(app)
        yield cluster
    finally:
        for worker in cluster.workers.values():
            worker.stop()
        for sidecar in cluster.sidecars.values():
            sidecar.stop()
        pg_databases.drop(url)


def _first(events: list[Any], field_name: str) -> Any:
    return next(e for e in events if e.HasField(field_name))


def _child_of(apps: Apps, parent_id: str) -> str:
    created = _first(apps.history(parent_id), "childWorkflowInstanceCreated")
    return str(created.childWorkflowInstanceCreated.instanceId)


def test_parent_in_app1_child_in_app2_activity_in_app3(apps: Apps) -> None:
    client = apps.client("app1")
    ids = [f"pg-xapp-{i}" for i in range(5)]
    for i, instance_id in enumerate(ids):
        client.schedule_new_workflow("parent", input=f"hello-{i}", instance_id=instance_id)
    for i, instance_id in enumerate(ids):
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None
        assert state.runtime_status.name == "COMPLETED", state.failure_details
        assert json.loads(state.serialized_output) == f"app1(app2(app3(HELLO-{i}!)))"
        child_id = _child_of(apps, instance_id)
        assert apps.app_of(instance_id) == "app1"
        assert apps.app_of(child_id) == "app2"
        child_state = apps.client("app2").get_workflow_state(child_id)
        assert child_state is not None and child_state.runtime_status.name == "COMPLETED"
        assert _first(apps.history(child_id), "taskScheduled").router.targetAppID == "app3"
        assert apps.activity_starts("shout", child_id) == 1


def test_activity_failing_in_app3_fails_the_child_and_reaches_the_parent(apps: Apps) -> None:
    client = apps.client("app1")
    client.schedule_new_workflow("parent_of_failing", input="kaput", instance_id="pg-xapp-catch")
    client.schedule_new_workflow("parent_fails", input="kaput", instance_id="pg-xapp-fail")

    state = client.wait_for_workflow_completion("pg-xapp-catch", timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    caught = json.loads(state.serialized_output)
    assert caught["caught"] == "TaskFailedError"
    assert "app3 cannot handle 'kaput'" in caught["message"]

    state = client.wait_for_workflow_completion("pg-xapp-fail", timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "FAILED"
    assert state.failure_details is not None
    assert "app3 cannot handle 'kaput'" in state.failure_details.message

    for parent_id in ("pg-xapp-catch", "pg-xapp-fail"):
        child_id = _child_of(apps, parent_id)
        assert apps.app_of(child_id) == "app2"
        child = apps.client("app2").get_workflow_state(child_id)
        assert child is not None and child.runtime_status.name == "FAILED"
        assert child.failure_details is not None
        assert child.failure_details.error_type == "TaskFailedError"
        assert "app3 cannot handle 'kaput'" in child.failure_details.message
        assert apps.activity_starts("always_fails", child_id) == 3  # the retry policy's attempts


def _start_parents(apps: Apps, word: str, n: int) -> list[str]:
    """Start ``n`` parents in app1 whose input is ``word-i``; their IDs."""
    client = apps.client("app1")
    ids = [f"pg-xapp-{word}-{i}" for i in range(n)]
    for i, instance_id in enumerate(ids):
        client.schedule_new_workflow("parent", input=f"{word}-{i}", instance_id=instance_id)
    return ids


def _wait_scheduled(apps: Apps, ids: list[str]) -> None:
    """Until every parent's child in app2 has scheduled its activity in app3."""
    for instance_id in ids:
        wait_until(lambda i=instance_id: _scheduled_child(apps, i), 30, f"{instance_id}'s child")


def _assert_completed(apps: Apps, ids: list[str], word: str) -> None:
    client = apps.client("app1")
    for i, instance_id in enumerate(ids):
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
        assert state is not None and state.runtime_status.name == "COMPLETED", (instance_id, state)
        assert json.loads(state.serialized_output) == f"app1(app2(app3({word.upper()}-{i}!)))"


def test_a_call_to_an_app_with_no_node_waits_until_its_node_starts(apps: Apps) -> None:
    """tether's documented difference from Dapr: work for an app id no node serves stays queued
    (not failed) and runs once a node of that app comes up."""
    apps.workers["app3"].stop()
    apps.sidecars["app3"].stop()
    try:
        ids = _start_parents(apps, "later", 3)
        _wait_scheduled(apps, ids)  # their app3 activities, which nothing can run yet
        client = apps.client("app1")
        for instance_id in ids:
            child_id = _child_of(apps, instance_id)
            kinds = {e.WhichOneof("eventType") for e in apps.history(child_id)}
            assert kinds.isdisjoint({"taskCompleted", "taskFailed", "executionCompleted"})
            assert client.get_workflow_state(instance_id).runtime_status.name == "RUNNING"
            assert apps.activity_starts("shout", child_id) == 0
    finally:
        apps.start_node("app3")
        apps.start_worker("app3")
    apps.wait_connected("app3")
    _assert_completed(apps, ids, "later")


def _scheduled_child(apps: Apps, parent_id: str) -> bool:
    with contextlib.suppress(StopIteration, IndexError):
        child = apps.history(_child_of(apps, parent_id))
        return any(e.HasField("taskScheduled") for e in child)
    return False


def test_nodes_of_app2_and_app3_killed_mid_flight(apps: Apps) -> None:
    """SIGKILL the child's and the activity's nodes while parents are in flight; restart them
    on the same database and ports: the workers reconnect and every parent completes."""
    before = _shouts(apps)
    ids = _start_parents(apps, "crash", 20)
    wait_until(lambda: _shouts(apps) >= before + 3, 30, "the first cross-app activities")
    for app in ("app2", "app3"):
        apps.sidecars[app].kill()
    for app in ("app2", "app3"):
        apps.start_node(app)
    for app in ("app2", "app3"):
        apps.wait_connected(app)
    _assert_completed(apps, ids, "crash")


def _shouts(apps: Apps) -> int:
    return sum(line.startswith("shout ") for line in apps.record.read_text().splitlines())


def test_a_node_killed_while_its_activity_is_pending_resumes_it_when_restarted(
    apps: Apps,
) -> None:
    """With app3's worker away, the children's activities are certainly pending on app3's node
    when it is SIGKILLed; a restarted node (and worker) runs them and every parent completes."""
    apps.workers["app3"].stop()
    try:
        ids = _start_parents(apps, "pending", 3)
        _wait_scheduled(apps, ids)
        apps.sidecars["app3"].kill()
    finally:
        apps.start_node("app3")
        apps.start_worker("app3")
    apps.wait_connected("app3")
    _assert_completed(apps, ids, "pending")
    for instance_id in ids:
        assert apps.activity_starts("shout", _child_of(apps, instance_id)) == 1
