"""Several ``tether serve`` nodes of one app on one SQLite file, under faults a user can cause:
one paused (SIGSTOP) past its lease under load, one whose clock runs an hour ahead (libfaketime),
and a write lock held past the busy timeout while activity results arrive.

Leases are short here ($TETHER_NODE_LEASE_SECONDS=2) to keep the tests fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import APPS, WorkerProcess, count_in, sdk_env, wait_until
from tether.testing import SidecarProcess

sys.path.insert(0, str(APPS))
from lease_worker import expected_output

WORKER = APPS / "lease_worker.py"
LEASE = 2.0
APP = "leaseapp"
DONE = ("COMPLETED", "FAILED", "TERMINATED")
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def _client(port: int) -> Any:
    import dapr.ext.workflow as wf

    return wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))


def _node(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> SidecarProcess:
    return SidecarProcess(
        tmp_path / "tether.db",
        app_id=APP,
        home=tmp_path / "home",
        env={"TETHER_NODE_LEASE_SECONDS": str(LEASE), **(env or {})},
        log_path=tmp_path / f"tether-{name}.log",
    )


def _worker(tmp_path: Path, node: SidecarProcess, name: str, step: float = 0.05) -> WorkerProcess:
    return WorkerProcess(
        WORKER, [], sdk_env(node.grpc_port, {"LEASE_STEP_SECONDS": str(step)}), tmp_path / name
    )


def _statuses(client: Any, ids: list[str]) -> dict[str, Any]:
    return {i: client.get_workflow_state(i) for i in ids}


def _all_done(client: Any, ids: list[str], timeout: float) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        states = _statuses(client, ids)
        if all(s is not None and s.runtime_status.name in DONE for s in states.values()):
            return states
        return None

    result: dict[str, Any] = wait_until(check, timeout, f"{len(ids)} workflows to finish", 0.25)
    return result


def _check_outputs(states: dict[str, Any], inputs: dict[str, int]) -> None:
    wrong = {
        i: (s.runtime_status.name, s.serialized_output)
        for i, s in states.items()
        if s.runtime_status.name != "COMPLETED"
        or json.loads(s.serialized_output) != expected_output(inputs[i])
    }
    assert not wrong, wrong


def _retried_forever(log: Path) -> int:
    """Turn commits retried without end show up as the same warning again and again."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r"committing a turn of .* failed \(attempt", text))


@pytest.mark.slow
@pytest.mark.parametrize("nodes", [2, 3])
@pytest.mark.timeout(240)
def test_a_node_paused_past_its_lease_under_load(tmp_path: Path, nodes: int) -> None:
    names = [chr(ord("a") + n) for n in range(nodes)]
    sidecars = [_node(tmp_path, n).start() for n in names]
    workers = [
        _worker(tmp_path, s, f"worker-{n}.log", step=0.2)
        for s, n in zip(sidecars, names, strict=True)
    ]
    clients = [_client(s.grpc_port) for s in sidecars]
    ids = [f"pause-{i:03d}" for i in range(120)]
    inputs = {instance_id: i for i, instance_id in enumerate(ids)}
    paused = sidecars[0]
    assert paused.proc is not None
    try:
        # Scheduled before any worker connects (so a start does not wait for its first turn),
        # through every node: each owns some.
        for i, instance_id in enumerate(ids):
            clients[i % nodes].schedule_new_workflow(
                "chain", input=inputs[instance_id], instance_id=instance_id
            )
        for w in workers:
            w.start()
        # Pause the first node once workflows are running everywhere.
        wait_until(lambda: _running(tmp_path / "tether.db") >= 20, 60, "workflows to run")
        others = [s.log_path for s in sidecars[1:]]
        before = sum(count_in(p, "taking over") for p in others)
        os.kill(paused.proc.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        takeover: list[float] = []

        def paused_long_enough() -> bool:
            if not takeover and sum(count_in(p, "taking over") for p in others) > before:
                takeover.append(time.monotonic() - stopped_at)
            return time.monotonic() - stopped_at > 3 * LEASE

        try:
            assert _in_flight(tmp_path / "tether.db") >= 100
            wait_until(paused_long_enough, 30, "a pause of three leases")
        finally:
            os.kill(paused.proc.pid, signal.SIGCONT)
        # A pause that lands inside the node's write transaction keeps SQLite's write lock held
        # until SIGCONT (no node can write meanwhile; that transaction then commits before any
        # claim). Either way, everything finishes.
        states = _all_done(clients[1], ids, 120)
        _check_outputs(states, inputs)
        wait_until(
            lambda: count_in(paused.log_path, "rejoining") >= 1,
            30,
            "the resumed node to notice its lease ran out",
        )
        # Every node, the resumed one included, answers every instance's status correctly.
        for client in clients:
            _check_outputs(_statuses(client, ids), inputs)
        assert _client(paused.grpc_port).wait_for_workflow_completion(ids[0], timeout_in_seconds=10)
        for s in sidecars:
            assert _retried_forever(s.log_path) < 10, s.log_path
        during = f"{takeover[0]:.2f} s" if takeover else "after SIGCONT (paused holding the lock)"
        print(f"\ntakeover after SIGSTOP, {LEASE} s lease, {nodes} nodes: {during}")
    finally:
        for w in workers:
            w.kill()
        for s in sidecars:
            s.kill()
    _integrity(tmp_path / "tether.db")


def _running(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM instances WHERE status = 0").fetchone()[0])


def _in_flight(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT COUNT(*) FROM instances WHERE status NOT IN (1, 3, 4, 5)")
        return int(row.fetchone()[0])


@pytest.mark.timeout(120)
def test_takeover_after_sigkill_with_the_default_lease(tmp_path: Path) -> None:
    """On one host a killed node's work moves at the next heartbeat, not after its lease."""
    env = {"TETHER_NODE_LEASE_SECONDS": "15"}
    sidecars = [_node(tmp_path, n, env).start() for n in ("a", "b")]
    workers = [_worker(tmp_path, s, f"worker-{n}.log") for s, n in zip(sidecars, "ab", strict=True)]
    ids = [f"kill-{i:02d}" for i in range(40)]
    inputs = {instance_id: i for i, instance_id in enumerate(ids)}
    try:
        for w in workers:
            w.start()
        client_a = _client(sidecars[0].grpc_port)
        for instance_id in ids:
            client_a.schedule_new_workflow(
                "chain", input=inputs[instance_id], instance_id=instance_id
            )
        sidecars[0].kill()
        workers[0].kill()
        killed_at = time.monotonic()
        wait_until(lambda: count_in(sidecars[1].log_path, "taking over") >= 1, 30, "the takeover")
        takeover = time.monotonic() - killed_at
        _check_outputs(_all_done(_client(sidecars[1].grpc_port), ids, 60), inputs)
        print(f"\ntakeover after SIGKILL with the default 15 s lease: {takeover:.2f} s")
    finally:
        for w in workers:
            w.kill()
        for s in sidecars:
            s.kill()


def _integrity(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _faketime_env() -> dict[str, str]:
    if not FAKETIME_LIB.exists() or shutil.which("faketime") is None:
        pytest.fail(
            "libfaketime is not installed: run `apt-get install faketime` "
            "(scripts/test.sh installs it when run as root)"
        )
    return {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": "+1h", "FAKETIME_DONT_RESET": "1"}


def test_faketime_shifts_the_clock_of_a_child_process() -> None:
    env = {**os.environ, **_faketime_env()}
    out = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(out.stdout) - time.time() > 3000


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_node_whose_clock_runs_an_hour_ahead(tmp_path: Path) -> None:
    normal = _node(tmp_path, "normal").start()
    ahead = _node(tmp_path, "ahead", _faketime_env()).start()
    workers = [_worker(tmp_path, normal, "worker-n.log"), _worker(tmp_path, ahead, "worker-a.log")]
    clients = [_client(normal.grpc_port), _client(ahead.grpc_port)]
    ids = [f"clock-{i:03d}" for i in range(100)]
    gated = [f"gated-{i:02d}" for i in range(10)]
    inputs = {instance_id: i for i, instance_id in enumerate(ids)}
    try:
        for w in workers:
            w.start()
        for i, instance_id in enumerate(ids):
            clients[i % 2].schedule_new_workflow(
                "chain", input=inputs[instance_id], instance_id=instance_id
            )
        for i, instance_id in enumerate(gated):  # owned by the node with the right clock
            clients[0].schedule_new_workflow("gated", input=i, instance_id=instance_id)
        _check_outputs(_all_done(clients[0], ids, 120), inputs)
        wait_until(
            lambda: all(
                (s := clients[0].get_workflow_state(g)) is not None
                and s.runtime_status.name == "RUNNING"
                for g in gated
            ),
            30,
            "the gated workflows to wait for their event",
        )
        # Events raised through the node an hour ahead reach the other node's instances now.
        for g in gated:
            clients[1].raise_workflow_event(g, "go", data=1)
        states = _all_done(clients[0], gated, 30)
        outputs = {g: (s.runtime_status.name, s.serialized_output) for g, s in states.items()}
        assert outputs == {g: ("COMPLETED", str((i + 1) * 3 + 1)) for i, g in enumerate(gated)}
        _check_outputs(_statuses(clients[1], ids), inputs)
        for s in (normal, ahead):
            text = s.log_path.read_text(errors="replace")
            assert "rejoining" not in text, s.log_path  # no node lost its lease
            assert "taking over from stopped node" not in text, s.log_path
            assert "lost the lease" not in text, s.log_path
    finally:
        for w in workers:
            w.kill()
        normal.stop()
        ahead.stop()


@pytest.mark.timeout(120)
def test_activity_results_survive_a_write_lock_held_past_the_busy_timeout(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tether.db"
    # The default lease: the lock is held for seconds, not long enough to lose it.
    env = {"TETHER_SQLITE_BUSY_SECONDS": "0.2", "TETHER_NODE_LEASE_SECONDS": "15"}
    node = _node(tmp_path, "one", env).start()
    worker = WorkerProcess(
        WORKER, [], sdk_env(node.grpc_port, {"LEASE_STEP_SECONDS": "0.5"}), tmp_path / "w.log"
    )
    client = _client(node.grpc_port)
    ids = [f"locked-{i}" for i in range(5)]
    try:
        worker.start()
        for i, instance_id in enumerate(ids):
            client.schedule_new_workflow("chain", input=i, instance_id=instance_id)
        wait_until(
            lambda: all(
                (s := client.get_workflow_state(i)) is not None
                and s.runtime_status.name == "RUNNING"
                for i in ids
            ),
            30,
            "the workflows to run their first activity",
        )
        # Hold the write lock while the activities finish: their results cannot be stored
        # through every retry, so the instances are recovered and the tasks sent again.
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            wait_until(
                lambda: count_in(node.log_path, "marked for recovery") >= 1,
                30,
                "a result write to fail for good",
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        states = _all_done(client, ids, 60)
        _check_outputs(states, {i: n for n, i in enumerate(ids)})
        assert node.proc is not None and node.proc.poll() is None  # no restart
    finally:
        worker.kill()
        node.stop()
