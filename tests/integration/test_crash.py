"""Crash recovery: tether SIGKILLed under load, and SDK workers killed mid-turn / mid-activity.

The SDK worker always runs in its own subprocess (tests/integration/apps/chain_worker.py), which
appends every activity execution to a record file (flush + fsync), so runs and duplicates can be
counted across kills. Activities are at-least-once: duplicates are allowed, lost work never.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    APPS,
    Record,
    WorkerProcess,
    count_in,
    free_port,
    sdk_env,
    wait_until,
)
from tether.testing import SidecarProcess

sys.path.insert(0, str(APPS))
from chain_worker import STEPS, expected_output

WORKER = APPS / "chain_worker.py"
CONNECTED = "connected (capabilities"  # tether's log line for a new GetWorkItems stream
SEED = int(os.environ.get("TETHER_CRASH_SEED", "20260817"))  # override to explore
WORKFLOWS = 100
KILLS = int(os.environ.get("TETHER_CRASH_KILLS", "4"))


def _sidecar(tmp_path: Path, port: int, n: int) -> SidecarProcess:
    return SidecarProcess(
        tmp_path / "tether.db",
        app_id="crashapp",
        home=tmp_path / "home",
        extra_args=["--grpc-port", str(port)],
        log_path=tmp_path / f"tether-{n}.log",
    )


def _client(port: int) -> Any:
    import dapr.ext.workflow as wf

    return wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))


def _wait_all_terminal(client: Any, ids: list[str], timeout: float) -> dict[str, Any]:
    states: dict[str, Any] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for instance_id in pending:
            state = client.get_workflow_state(instance_id)
            if state is not None and state.runtime_status.name in (
                "COMPLETED",
                "FAILED",
                "TERMINATED",
            ):
                states[instance_id] = state
            else:
                still.append(instance_id)
        pending = still
        if pending and time.monotonic() > deadline:
            raise AssertionError(
                f"{len(pending)} workflow(s) not finished after {timeout}s: {pending[:5]}"
            )
        if pending:
            time.sleep(0.2)
    return states


def _integrity(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_tether_under_load(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    port = free_port()
    record = Record(tmp_path / "activities.log")
    total_steps = WORKFLOWS * STEPS
    # Kill when the number of finished activity runs crosses these marks, plus a seeded jitter,
    # so every kill lands while workflows are in flight.
    marks = sorted(rng.sample(range(total_steps // 12, total_steps * 3 // 4), KILLS))
    jitters = [rng.uniform(0.0, 0.25) for _ in range(KILLS)]

    sidecar = _sidecar(tmp_path, port, 0).start()
    worker = WorkerProcess(
        WORKER,
        [str(record.path)],
        sdk_env(port, {"CHAIN_STEP_SECONDS": "0.05"}),
        tmp_path / "worker.log",
    )
    client = _client(port)
    started = time.monotonic()
    try:
        ids = [f"crash-{i:03d}" for i in range(WORKFLOWS)]
        for i, instance_id in enumerate(ids):
            client.schedule_new_workflow("chain", input=i, instance_id=instance_id)
        worker.start()
        kills = 0
        for n, (mark, jitter) in enumerate(zip(marks, jitters, strict=True), start=1):
            wait_until(
                lambda m=mark: record.count("done") >= m, 90, f"{mark} finished activity runs"
            )
            time.sleep(jitter)  # seeded: where inside the running activities the kill lands
            sidecar.kill()
            kills += 1
            assert worker.alive(), "the worker must survive the sidecar's death"
            sidecar = _sidecar(tmp_path, port, n).start()
            # The worker reconnects on its own (1.19 backs off up to 15 s on failed connects).
            wait_until(
                lambda s=sidecar: count_in(s.log_path, CONNECTED) >= 1,
                40,
                "the worker to reconnect",
            )

        states = _wait_all_terminal(client, ids, 120)
        elapsed = time.monotonic() - started
        completed = [i for i, s in states.items() if s.runtime_status.name == "COMPLETED"]
        wrong = {
            instance_id: state.serialized_output
            for instance_id, state in states.items()
            if json.loads(state.serialized_output or "null")
            != expected_output(int(instance_id[-3:]))
        }
        starts = record.per_key("start")
        dones = record.per_key("done")
        expected_keys = {(i, s) for i in ids for s in range(1, STEPS + 1)}
        lost = sorted(expected_keys - set(dones))
        runs = sum(starts.values())
        duplicates = sum(c - 1 for c in starts.values())
        figures = {
            "workflows": WORKFLOWS,
            "kills": kills,
            "completed": len(completed),
            "activity_runs": runs,
            "activity_runs_finished": sum(dones.values()),
            "duplicates": duplicates,
            "lost": len(lost),
            "seconds": round(elapsed, 1),
        }
        print("\ncrash test figures:", json.dumps(figures))
        (tmp_path / "figures.json").write_text(json.dumps(figures))

        assert kills >= 3
        assert len(completed) == WORKFLOWS, {i: s.runtime_status.name for i, s in states.items()}
        assert not wrong, wrong
        assert not lost, lost[:10]
        assert set(starts) == expected_keys  # nothing ran that was never scheduled
        assert worker.alive()
    finally:
        worker.stop()
        sidecar.stop()
    _integrity(tmp_path / "tether.db")


@pytest.mark.parametrize("where", ["activity", "turn"])
@pytest.mark.timeout(120)
def test_worker_killed_mid_work_gets_it_again(tmp_path: Path, where: str) -> None:
    """A worker that dies mid-activity (or mid-turn) gets that work again when one reconnects."""
    record = Record(tmp_path / "activities.log")
    sidecar = SidecarProcess(
        tmp_path / "tether.db", app_id="crashapp", home=tmp_path / "home"
    ).start()
    hang = {"CHAIN_HANG_ACTIVITY": "3"} if where == "activity" else {"CHAIN_HANG_TURN": "1"}
    first = WorkerProcess(
        WORKER, [str(record.path)], sdk_env(sidecar.grpc_port, hang), tmp_path / "worker-1.log"
    )
    second = WorkerProcess(
        WORKER, [str(record.path)], sdk_env(sidecar.grpc_port), tmp_path / "worker-2.log"
    )
    client = _client(sidecar.grpc_port)
    ids = [f"{where}-{i}" for i in range(3)]
    try:
        # Scheduled before any worker is connected, so StartInstance does not wait for a turn.
        for i, instance_id in enumerate(ids):
            client.schedule_new_workflow("chain", input=i, instance_id=instance_id)
        first.start()
        if where == "activity":
            wait_until(
                lambda: {(i, 3) for i in ids} <= set(record.lines("start")),
                60,
                "step 3 to be running",
            )
        else:
            wait_until(
                lambda: {(i, 0) for i in ids} <= set(record.lines("turn")),
                60,
                "the turns to be running",
            )
        first.kill()
        second.start()
        states = _wait_all_terminal(client, ids, 60)
        for instance_id, state in states.items():
            assert state.runtime_status.name == "COMPLETED", (instance_id, state.failure_details)
            assert json.loads(state.serialized_output) == expected_output(int(instance_id[-1]))
        starts = record.per_key("start")
        for instance_id in ids:
            for step in range(1, STEPS + 1):
                again = 2 if where == "activity" and step == 3 else 1
                assert starts[(instance_id, step)] == again, (instance_id, step, starts)
        assert count_in(sidecar.log_path, CONNECTED) == 2
    finally:
        first.kill()
        second.stop()
        sidecar.stop()


@pytest.mark.timeout(120)
def test_replica_takes_over_a_killed_nodes_instances(tmp_path: Path) -> None:
    """Two nodes of one app on one store: SIGKILL the node that owns the instances (and its
    worker); the surviving node claims them and finishes them with its own worker."""
    record = Record(tmp_path / "activities.log")
    db = tmp_path / "tether.db"
    home = tmp_path / "home"
    nodes = [
        SidecarProcess(
            db, app_id="crashapp", home=home, log_path=tmp_path / f"tether-{n}.log"
        ).start()
        for n in ("a", "b")
    ]
    workers = [
        WorkerProcess(
            WORKER,
            [str(record.path)],
            sdk_env(node.grpc_port, {"CHAIN_STEP_SECONDS": "0.1"}),
            tmp_path / f"worker-{n}.log",
        )
        for n, node in zip("ab", nodes, strict=True)
    ]
    ids = [f"replica-{i:02d}" for i in range(20)]
    try:
        client_a = _client(nodes[0].grpc_port)
        for i, instance_id in enumerate(ids):  # created on node a, so node a owns them
            client_a.schedule_new_workflow("chain", input=i, instance_id=instance_id)
        workers[0].start()
        workers[1].start()
        wait_until(lambda: record.count("done") >= 10, 60, "some progress on node a")
        nodes[0].kill()
        workers[0].kill()
        states = _wait_all_terminal(_client(nodes[1].grpc_port), ids, 90)
        for instance_id, state in states.items():
            assert state.runtime_status.name == "COMPLETED", (instance_id, state.failure_details)
            assert json.loads(state.serialized_output) == expected_output(int(instance_id[-2:]))
        takeover = r"taking over \d+ instance\(s\) of app 'crashapp'"
        assert re.search(takeover, nodes[1].log_path.read_text())
    finally:
        for worker in workers:
            worker.kill()
        for node in nodes:
            node.stop()
