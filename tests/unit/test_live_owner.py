"""admin.live_owner: the one answer to "does a live node still run this instance?"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tether import pb
from tether.engine.admin import live_owner
from tether.store.base import InstanceRow, NodeRow

NOW = 10**18
LEASE = 15.0


def row(status: int = pb.RUNNING, owner: str | None = "n1") -> InstanceRow:
    return InstanceRow("i1", "app", "wf", status, "e1", 1, 1, owner=owner)


def node(host: str, pid: int, heartbeat_age_s: float, node_id: str = "n1") -> NodeRow:
    return NodeRow(node_id, "app", host, pid, 1, 2, 0, NOW - int(heartbeat_age_s * 1e9))


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_a_fresh_node_whose_process_exists_runs_its_instance() -> None:
    here = node(socket.gethostname(), os.getpid(), 1)
    assert live_owner(row(), [here], NOW, LEASE) == here


def test_a_node_on_another_host_counts_while_its_heartbeat_is_fresh() -> None:
    far = node("elsewhere.example", 1, 1)
    assert live_owner(row(), [far], NOW, LEASE) == far
    assert live_owner(row(), [node("elsewhere.example", 1, LEASE + 1)], NOW, LEASE) is None


def test_nobody_runs_it_when_the_process_is_gone_the_node_left_or_it_is_done() -> None:
    gone = node(socket.gethostname(), dead_pid(), 0)
    assert live_owner(row(), [gone], NOW, LEASE) is None
    assert live_owner(row(), [], NOW, LEASE) is None
    fresh = node("elsewhere.example", 1, 0)
    assert live_owner(row(owner=None), [fresh], NOW, LEASE) is None
    assert live_owner(row(status=pb.COMPLETED), [fresh], NOW, LEASE) is None
    assert live_owner(row(owner="n2"), [fresh], NOW, LEASE) is None
