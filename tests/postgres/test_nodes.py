"""Several ``tether serve`` nodes of one app on one PostgreSQL (the current ownership model):
an event raised through one node reaches an instance another node runs (LISTEN/NOTIFY), the
instances of a killed node are taken over by a live one, a node paused past its lease under load
is fenced out, and a takeover slower than the lease does not cost the claimer its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tests.postgres.cluster import (
    ACTIVE,
    TERMINAL,
    Db,
    Member,
    check_histories,
    cluster,
    connect_workers,
)
from tests.postgres.cluster_worker import STEPS, expected_output
from tether import pb
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


PAUSED_WORKFLOWS = 100
PAUSED_STEP_SECONDS = 0.5  # the activities still run when the pause is over


def test_a_node_paused_past_its_lease_under_load_is_fenced_out(pg_url: str, tmp_path: Path) -> None:
    """SIGSTOP one of two nodes past its (short) lease while workflows run activities on both:
    the other takes its instances over and finishes them meanwhile; resumed, the paused node
    writes nothing more under its old identity (every history has each event once), and both
    nodes answer every status correctly, the resumed one at once (from the store, not from its
    stale memory)."""
    db = Db(pg_url)
    db.install_turn_probe()
    ids = [f"p{i:03d}" for i in range(PAUSED_WORKFLOWS)]
    env = {"TETHER_NODE_LEASE_SECONDS": "3", "TETHER_START_WAIT_SECONDS": "0"}
    try:
        paced = {"CLUSTER_STEP_SECONDS": str(PAUSED_STEP_SECONDS)}
        with cluster(pg_url, tmp_path, "ab", env, paced) as members:
            connect_workers(members)
            paused, other = members
            clients = [m.client() for m in members]
            for i, instance_id in enumerate(ids):  # half start (and run) on the node to pause
                clients[i % 2].schedule_new_workflow("chain", input=i, instance_id=instance_id)
            wait_until(lambda: _mid_chain(db, paused) >= 20, timeout=60)
            os.kill(paused.pid, signal.SIGSTOP)
            try:
                stopped = db.now()
                old_ids = {
                    r[0] for r in db.rows("SELECT node_id FROM nodes WHERE pid = %s", paused.pid)
                }
                held = [
                    i
                    for i, o in db.rows(
                        f"SELECT instance_id, owner FROM instances WHERE {ACTIVE}", TERMINAL
                    )
                    if o in old_ids
                ]
                assert held
                # Taken over (once the lease has run out) and finished while the node is stopped.
                done_meanwhile = wait_until(
                    lambda: _completed_among(db, held), timeout=60, interval=0.1
                )
            finally:
                os.kill(paused.pid, signal.SIGCONT)
                resumed = db.now()
            for instance_id in done_meanwhile:  # the resumed node's memory is not its answer
                _assert_completed(clients[0], instance_id, ids)
            wait_until(lambda: _completed_among(db, ids) == set(ids), timeout=60, interval=0.1)
            for client in clients:
                for instance_id in ids:
                    _assert_completed(client, instance_id, ids)
            check_histories(other.sidecar.grpc_port, ids, STEPS)
            # Once another owner wrote to an instance, the old identity never did again. (A turn
            # of the old one may still commit after SIGCONT: one whose transaction had passed
            # its fence, and so locked the instance against any claim, before the pause.)
            writers: dict[str, list[str]] = {}
            for instance_id, owner, _ in sorted(db.turns(), key=lambda t: t[2]):
                writers.setdefault(instance_id, []).append(owner)
            for instance_id, owners in writers.items():
                taken = next((n for n, o in enumerate(owners) if o not in old_ids), len(owners))
                assert not old_ids & set(owners[taken:]), (instance_id, owners)
            log = paused.sidecar.log_path.read_text(errors="replace")
            assert "rejoining" in log  # it noticed its lease had run out
            print(
                f"\npaused {resumed - stopped:.1f} s (3 s lease) holding {len(held)} running "
                f"instance(s); {len(done_meanwhile)} finished by the other node meanwhile"
            )
    finally:
        db.close()


def _mid_chain(db: Db, member: Member) -> int:
    """Running instances of ``member`` with at least one activity result taken."""
    rows = db.rows(
        """SELECT i.owner FROM instances i
           JOIN (SELECT instance_id FROM probe.turns GROUP BY 1 HAVING COUNT(*) >= 2) t
           USING (instance_id) WHERE i.status = %s""",
        pb.RUNNING,
    )
    return sum(1 for (owner,) in rows if member.owns(owner))


def _completed_among(db: Db, ids: list[str]) -> set[str]:
    rows = db.rows(
        "SELECT instance_id FROM instances WHERE status = %s AND instance_id = ANY(%s)",
        pb.COMPLETED,
        ids,
    )
    return {r[0] for r in rows}


def _assert_completed(client: Any, instance_id: str, ids: list[str]) -> None:
    state = client.get_workflow_state(instance_id)
    assert state is not None and state.runtime_status.name == "COMPLETED", instance_id
    assert json.loads(state.serialized_output) == expected_output(ids.index(instance_id))


class _SlowReads:
    """A store whose every read takes ``delay`` seconds longer (a busy database); writes, and so
    lease renewals, as fast as the store is."""

    def __init__(self, store: Any, delay: float) -> None:
        self._store = store
        self._delay = delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read(self, fn: Any, keyed: bool = False) -> Any:
        await asyncio.sleep(self._delay)
        return await self._store.read(fn, keyed=keyed)


def test_a_takeover_slower_than_the_lease_keeps_the_claimers_lease(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Loading the instances of a takeover (here 20 reads of 0.1 s) can take longer than the
    claimer's lease (1 s): its renewals go on meanwhile, so it keeps the lease and the work,
    instead of losing both and handing the takeover on again."""
    from tether.engine.engine import Engine
    from tether.settings import Settings
    from tether.store import open_store

    ids = [f"slow{i}" for i in range(20)]

    async def main() -> None:
        leaving = Engine(Settings(app_id="u", store_url=pg_url), open_store(pg_url))
        claimer_settings = Settings(
            app_id="u", store_url=pg_url, node_lease_seconds=1.0, heartbeat_seconds=0.2
        )
        claimer = Engine(claimer_settings, _SlowReads(open_store(pg_url), 0.1))  # type: ignore[arg-type]
        await claimer.start()
        await leaving.start()
        try:
            first_id = claimer.node_id
            for instance_id in ids:  # no worker: they wait, owned by the leaving node
                await leaving.create_instance("wf", instance_id, None)
            await leaving.stop()  # leaves the registry: its instances are claimable at once
            deadline = time.monotonic() + 30
            while not all(i in claimer.active for i in ids):
                assert time.monotonic() < deadline, "the takeover did not finish"
                await asyncio.sleep(0.05)
            assert claimer.node_id == first_id
            assert claimer.nodes.valid()
            owners = await claimer.store.read(lambda tx: [tx.get_instance(i) for i in ids])
            assert {(r.owner, r.epoch) for r in owners} == {(first_id, 2)}
        finally:
            await claimer.stop()
            await leaving.stop()
            await claimer.store.close()
            await leaving.store.close()

    with caplog.at_level(logging.INFO, logger="tether"):
        asyncio.run(main())
    assert "rejoining" not in caplog.text
