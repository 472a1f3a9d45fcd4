"""txops.live_owner: the one answer to "does a live node still run this instance?"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tether import pb
from tether.engine.txops import live_owner
from tether.store.base import InstanceRow, NodeRow

NOW = 10**18
LEASE_NS = 15 * 10**9


def row(status: int = pb.RUNNING, owner: str | None = "n1") -> InstanceRow:
    return InstanceRow("i1", "app", "wf", status, "e1", 1, 1, owner=owner)


def node(host: str, pid: int, lease_left_s: float, node_id: str = "n1") -> NodeRow:
    """A node whose lease ends ``lease_left_s`` after NOW on the store's clock."""
    expires = NOW + int(lease_left_s * 1e9)
    return NodeRow(node_id, "app", host, pid, 1, 2, 0, expires - LEASE_NS, expires)


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
    assert live_owner(row(), [here], NOW) == here


def test_a_node_on_another_host_counts_while_its_lease_lasts() -> None:
    far = node("elsewhere.example", 1, 1)
    assert live_owner(row(), [far], NOW) == far
    assert live_owner(row(), [node("elsewhere.example", 1, 0)], NOW) is None
    assert live_owner(row(), [node("elsewhere.example", 1, -1)], NOW) is None


def test_nobody_runs_it_when_the_process_is_gone_the_node_left_or_it_is_done() -> None:
    gone = node(socket.gethostname(), dead_pid(), 10)
    assert live_owner(row(), [gone], NOW) is None
    assert live_owner(row(), [], NOW) is None
    fresh = node("elsewhere.example", 1, 10)
    assert live_owner(row(owner=None), [fresh], NOW) is None
    assert live_owner(row(status=pb.COMPLETED), [fresh], NOW) is None
    assert live_owner(row(owner="n2"), [fresh], NOW) is None
