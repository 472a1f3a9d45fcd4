"""Several ``tether serve`` nodes of one app on one PostgreSQL (the current ownership model):
an event raised through one node reaches an instance another node runs (LISTEN/NOTIFY), and
the instances of a killed node are taken over by a live one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.conformance._support import Raw, kinds
from tests.conftest import wait_until
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


def test_a_node_paused_past_its_lease_is_fenced_out(pg_url: str, tmp_path: Path) -> None:
    """SIGSTOP one node past its (short) lease: the other takes its instances over and finishes
    them; the paused node, resumed, writes nothing more to them (each completes exactly once)."""
    env = {"TETHER_NODE_LEASE_SECONDS": "3"}
    first = SidecarProcess(pg_url, app_id="testapp", home=tmp_path / "a" / "home", env=env)
    second = SidecarProcess(pg_url, app_id="testapp", home=tmp_path / "b" / "home", env=env)
    first.start()
    second.start()
    runtimes = [_runtime(first.grpc_port), _runtime(second.grpc_port)]
    try:
        for runtime in runtimes:
            runtime.start()
        client_a = wf.DaprWorkflowClient(host="127.0.0.1", port=str(first.grpc_port))
        client_b = wf.DaprWorkflowClient(host="127.0.0.1", port=str(second.grpc_port))
        ids = [f"p{i}" for i in range(20)]
        for i, instance_id in enumerate(ids):  # half start (and run) on the node to be paused
            client = client_a if i % 2 else client_b
            client.schedule_new_workflow("waiter", instance_id=instance_id)
        for instance_id in ids:
            client_b.wait_for_workflow_start(instance_id, timeout_in_seconds=30)
        owners = _owners(pg_url, ids)
        assert len({owner for owner, _ in owners.values()}) == 2, owners  # both run some
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGSTOP)
        try:
            for instance_id in ids:
                client_b.raise_workflow_event(instance_id, "go", data=instance_id)
            for instance_id in ids:
                done = client_b.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
                assert done.serialized_output == f'"got {instance_id}"'
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)
        raw = Raw(second.grpc_port)
        try:
            wait_until(lambda: all(raw.status(i) == "COMPLETED" for i in ids), timeout=30)
            for instance_id in ids:
                assert kinds(raw.history(instance_id)).count("executionCompleted") == 1
            paused_node = f":{first.proc.pid}:"  # node ids are app@host:pid:suffix
            paused_ones = [i for i in ids if paused_node in owners[i][0]]
            assert paused_ones
            after = _owners(pg_url, paused_ones)
            for instance_id in paused_ones:  # taken over: a new owner at a higher epoch
                assert after[instance_id][0] != owners[instance_id][0]
                assert after[instance_id][1] > owners[instance_id][1]
        finally:
            raw.close()
    finally:
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                runtime.shutdown()
        first.stop()
        second.stop()


def _owners(url: str, ids: list[str]) -> dict[str, tuple[str, int]]:
    """(owner, epoch) of each instance, read behind tether's back."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT instance_id, owner, epoch FROM tether.instances WHERE instance_id = ANY(%s)",
            (ids,),
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


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
