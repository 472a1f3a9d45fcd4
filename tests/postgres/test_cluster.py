"""Three ``tether serve`` nodes of one app on one PostgreSQL database, each with an official SDK
worker in a process of its own (see ``tests/postgres/cluster.py``), as a user would run them:

* a thousand workflows of five chained activities, one node and its worker SIGKILLed mid-run:
  every workflow completes once with the right output, activities re-run at most for what the
  killed node had in flight, and the figures (activity runs, takeover time, each node's share of
  turns) are printed and written to ``test-artifacts/pg-cluster/figures.json``;
* an activity that runs three times as long as the node lease runs once, on its node.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.postgres.cluster import (
    ACTIVE,
    TERMINAL,
    Db,
    Member,
    check_histories,
    cluster,
    connect_workers,
    write_figures,
)
from tests.postgres.cluster_worker import STEPS, expected_output
from tether import pb

# -- three nodes, a thousand workflows, one killed ------------------------------------------------

WORKFLOWS = 1000
LEASE = 3.0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_three_nodes_finish_a_thousand_workflows_when_one_is_killed(
    pg_url: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    db = Db(pg_url)
    db.install_turn_probe()
    ids = [f"c{i:04d}" for i in range(WORKFLOWS)]
    try:
        env = {"TETHER_NODE_LEASE_SECONDS": str(LEASE), "TETHER_START_WAIT_SECONDS": "0"}
        with cluster(pg_url, tmp_path, "abc", env) as members:
            clients = [m.client() for m in members]

            # Started spread over the nodes with every worker running. A start answers once
            # stored ($TETHER_START_WAIT_SECONDS=0), so the starts outpace the chains and the
            # chains are at every step when the node is killed.
            connect_workers(members)
            phases = {"workers_connected": time.monotonic() - began}

            def start(i: int) -> None:
                clients[i % 3].schedule_new_workflow("chain", input=i, instance_id=ids[i])

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(start, range(WORKFLOWS)))
            phases["all_started"] = time.monotonic() - began
            victim, survivors = members[0], members[1:]
            progress = _wait_for_progress(db, victim)
            killed = _kill(db, victim)
            phases["killed"] = time.monotonic() - began
            reowned = wait_until(lambda: _reowned(db, victim, killed["at"]), timeout=60)
            wait_until(lambda: _finished(db) == WORKFLOWS, timeout=150, interval=0.25)
            finished = db.now()
            phases["all_completed"] = time.monotonic() - began

            client = survivors[0].client()
            wrong = {}
            for i, instance_id in enumerate(ids):
                state = client.get_workflow_state(instance_id)
                if state.runtime_status.name != "COMPLETED" or json.loads(
                    state.serialized_output
                ) != expected_output(i):
                    wrong[instance_id] = (state.runtime_status.name, state.serialized_output)
            assert not wrong, wrong
            check_histories(survivors[1].sidecar.grpc_port, ids, STEPS)

            # The survivors kept their leases through the takeover (a lost one would hand its
            # work on again, and re-run activities beyond the killed node's).
            for member in survivors:
                log = member.sidecar.log_path.read_text(errors="replace")
                assert "rejoining" not in log, f"node {member.name} lost its lease"
            runs = {m.name: m.record.per_key("run") for m in members}
            total = sum(runs.values(), Counter())
            assert set(total) == {(i, s) for i in ids for s in range(1, STEPS + 1)}
            duplicated = {key: n for key, n in total.items() if n > 1}
            duplicates = sum(total.values()) - WORKFLOWS * STEPS
            # A re-run is of a task the killed node held: its worker ran it (or was running it)
            # and the result was not stored before the kill.
            assert all(runs[victim.name][key] >= 1 for key in duplicated), duplicated
            assert duplicates <= killed["tasks"], (duplicates, killed["tasks"])
            figures = _figures(db, members, victim, progress, killed, reowned, finished)
            figures.update(
                activity_runs=sum(total.values()),
                activity_runs_by_worker={n: sum(c.values()) for n, c in runs.items()},
                duplicates=duplicates,
                phases_seconds={k: round(v, 1) for k, v in phases.items()},
                test_seconds=round(time.monotonic() - began, 1),
            )
            write_figures("figures.json", figures)
    finally:
        db.close()


def _finished(db: Db) -> int:
    return int(db.one(f"SELECT COUNT(*) FROM instances WHERE NOT {ACTIVE}", TERMINAL)[0])


def _wait_for_progress(db: Db, victim: Member) -> dict[str, int]:
    """Wait until some workflows completed and many are mid-chain, the victim's among them."""

    seen: dict[str, int] = {}

    def mid_chain() -> dict[str, int] | None:
        owners = db.rows(
            """SELECT i.owner, i.status FROM instances i
               JOIN (SELECT instance_id FROM probe.turns GROUP BY 1 HAVING COUNT(*) >= 2) t
               USING (instance_id)"""
        )
        completed = sum(1 for _, status in owners if status == pb.COMPLETED)
        mid = [owner for owner, status in owners if status == pb.RUNNING]
        mine = sum(1 for owner in mid if victim.owns(owner))
        seen.update(completed=completed, mid_chain=len(mid), mid_chain_victim=mine)
        if completed >= 1 and len(mid) >= 200 and mine >= 50:
            return dict(seen)
        return None

    try:
        progress: dict[str, int] = wait_until(mid_chain, timeout=90, interval=0.05)
    except AssertionError:
        raise AssertionError(f"the workflows did not progress enough: {seen}") from None
    return progress


def _kill(db: Db, victim: Member) -> dict[str, Any]:
    """SIGKILL the victim's node and worker, as a host dying would. Both are stopped first so
    what the node held at that moment can be counted (nothing runs between stop and kill)."""
    os.kill(victim.worker.proc.pid, signal.SIGSTOP)
    os.kill(victim.pid, signal.SIGSTOP)
    at = db.now()
    owned = db.rows(f"SELECT instance_id, owner FROM instances WHERE {ACTIVE}", TERMINAL)
    tasks = db.rows("SELECT owner, COUNT(*) FROM tasks GROUP BY owner")
    victim.worker.kill()
    victim.sidecar.kill()
    return {
        "at": at,
        "instances": {i for i, owner in owned if victim.owns(owner)},
        "tasks": sum(n for owner, n in tasks if victim.owns(owner)),
    }


def _reowned(db: Db, victim: Member, killed_at: float) -> float | None:
    """Seconds from the kill until no running instance is left with the killed node."""
    owners = db.rows(f"SELECT owner FROM instances WHERE {ACTIVE}", TERMINAL)
    if any(victim.owns(owner) for (owner,) in owners):
        return None
    return db.now() - killed_at


def _figures(
    db: Db,
    members: list[Member],
    victim: Member,
    progress: dict[str, int],
    killed: dict[str, Any],
    reowned: float,
    finished: float,
) -> dict[str, Any]:
    turns = db.turns()
    node_of = {o: m.name for _, o, _ in turns for m in members if m.owns(o)}
    assert len(node_of) == len({o for _, o, _ in turns}), "a turn by an unknown owner"
    at = killed["at"]
    taken = [t for i, o, t in turns if t >= at and i in killed["instances"]]
    assert taken, "no survivor ran a turn of an instance the killed node had"
    assert not [t for _, o, t in turns if t >= at and victim.owns(o)]  # nothing after its kill

    def share(selected: list[str]) -> dict[str, Any]:
        counts = Counter(selected)
        return {m.name: counts[m.name] for m in members} | {"total": len(selected)}

    return {
        "workflows": WORKFLOWS,
        "activities_per_workflow": STEPS,
        "node_lease_seconds": LEASE,
        "at_kill": progress,
        "killed_node": victim.name,
        "killed_node_running_instances": len(killed["instances"]),
        "killed_node_activity_tasks_in_flight": killed["tasks"],
        "takeover_first_turn_seconds": round(min(taken) - at, 3),
        # what the survivors had queued ahead of it (turns are taken in order of arrival)
        "survivor_turns_before_first_taken_over_turn": sum(
            1 for _, _, t in turns if at <= t < min(taken)
        ),
        "takeover_all_reowned_seconds": round(reowned, 3),
        "kill_to_all_completed_seconds": round(finished - at, 2),
        "turns_before_kill": share([node_of[o] for _, o, t in turns if t < at]),
        "turns_after_kill": share([node_of[o] for _, o, t in turns if t >= at]),
    }


# -- an activity longer than the lease ------------------------------------------------------------

SHORT_LEASE = 2.0
LONG_ACTIVITY = 3 * SHORT_LEASE


@pytest.mark.timeout(120)
def test_an_activity_running_longer_than_the_lease_runs_once(pg_url: str, tmp_path: Path) -> None:
    """Each node's lease (renewed every heartbeat) keeps its activity tasks while a worker runs
    them: no other node claims them, however long they take."""
    db = Db(pg_url)
    db.install_turn_probe()
    ids = [f"long-{i}" for i in range(4)]
    try:
        env = {"TETHER_NODE_LEASE_SECONDS": str(SHORT_LEASE)}
        with cluster(pg_url, tmp_path, "ab", env) as members:
            connect_workers(members)
            clients = [m.client() for m in members]
            began = time.monotonic()
            for i, instance_id in enumerate(ids):  # two on each node
                clients[i % 2].schedule_new_workflow(
                    "long", input=LONG_ACTIVITY, instance_id=instance_id
                )
            for i, instance_id in enumerate(ids):
                done = clients[(i + 1) % 2].wait_for_workflow_completion(
                    instance_id, timeout_in_seconds=60
                )
                assert done.runtime_status.name == "COMPLETED"
                assert json.loads(done.serialized_output) == f"slept {LONG_ACTIVITY}"
            elapsed = time.monotonic() - began
            for i, member in enumerate(members):  # each ran once, by its own node's worker
                assert member.record.per_key("run") == Counter(
                    {(instance_id, 1): 1 for instance_id in ids[i::2]}
                ), member.name
            check_histories(members[0].sidecar.grpc_port, ids, 1)
            owners = dict(
                db.rows("SELECT instance_id, owner FROM instances WHERE epoch = 1 AND owner <> ''")
            )
            for i, instance_id in enumerate(ids):  # never claimed by another node (epoch 1)
                assert members[i % 2].owns(owners.get(instance_id)), (instance_id, owners)
            for instance_id, owner, _ in db.turns():
                assert members[ids.index(instance_id) % 2].owns(owner), (instance_id, owner)
            for member in members:
                log = member.sidecar.log_path.read_text(errors="replace")
                for sign in ("taking over", "rejoining", "lost the lease"):
                    assert sign not in log, (member.name, sign)
            write_figures(
                "long-activity.json",
                {
                    "node_lease_seconds": SHORT_LEASE,
                    "activity_seconds": LONG_ACTIVITY,
                    "workflows": len(ids),
                    "activity_runs": sum(m.record.count("run") for m in members),
                    "start_to_all_completed_seconds": round(elapsed, 2),
                },
            )
    finally:
        db.close()
