"""A short seeded slice of the chaos suite for the normal test run (the long run is
``scripts/chaos.sh``): fault schedules on the worker's stream with worker and sidecar kills,
and store writes failing at random under an in-process sidecar."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.chaos.patterns import drive, register
from tests.chaos.runner import run
from tether.settings import Settings
from tether.store import open_store
from tether.testing.faults import FaultPlan, FaultyStore

SLICE = list(range(1000, 1012))


def test_a_seeded_slice_of_fault_schedules() -> None:
    out = io.StringIO()
    results = run(SLICE, out=out)
    failed = [r for r in results if r.problems]
    assert len(results) == len(SLICE)
    assert not failed, out.getvalue()
    assert sum(len(r.faults) for r in results) > 0  # the schedules did inject faults


def test_the_same_seed_makes_the_same_decisions() -> None:
    a, b = FaultPlan.random(5), FaultPlan.random(5)
    assert [a.choose("x") for _ in range(200)] == [b.choose("x") for _ in range(200)]
    assert a.log == b.log and a.log


@pytest.fixture
def faulty_sidecar(tmp_path: Path) -> Iterator[tuple[FaultyStore, int]]:
    """An in-process sidecar whose store fails writes on demand."""
    from tether.sidecar import Sidecar

    store = FaultyStore(open_store(f"sqlite:///{tmp_path / 'faulty.db'}"), seed=7)
    settings = Settings(app_id="faulty", grpc_port=0, http_port=0)
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        sidecar = Sidecar(settings, store=store, announce=False)  # type: ignore[arg-type]
        await sidecar.start()
        box["port"], box["stop"] = sidecar.grpc_port, asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        ready.set()
        await box["stop"].wait()
        await sidecar.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield store, box["port"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


def test_patterns_survive_failing_store_writes(faulty_sidecar: tuple[FaultyStore, int]) -> None:
    store, port = faulty_sidecar
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))
    register(runtime)
    runtime.start()
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
    try:
        expected = drive(client, "quiet")
        store.fail_rate = 0.05
        outcome = drive(client, "faulty", timeout=120)
        store.fail_rate = 0.0
    finally:
        runtime.shutdown()
    assert store.failed > 0
    assert outcome == expected
