"""Fencing at the engine's level: a node whose lease was taken over cannot commit any more.

Two engines share one SQLite file in this process (no workers: a terminate is then committed by
the owner itself). Node A's lease ends in the store as if it had been paused past it, while its
own view still says it holds it; node B claims the instance. A's next commit on the instance is
refused with LeaseLost, changes nothing, and A forgets the instance; B finishes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tether import pb
from tether.engine.engine import Engine
from tether.settings import Settings
from tether.store import open_store


async def _until(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_fenced_out_owner_writes_nothing_and_forgets_the_instance(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'fence.db'}"

    async def main() -> None:
        # A renews rarely (so the test decides when its lease ends); B claims often.
        a_settings = Settings(
            app_id="u", store_url=url, node_lease_seconds=60, heartbeat_seconds=40
        )
        b_settings = Settings(
            app_id="u", store_url=url, node_lease_seconds=60, heartbeat_seconds=0.1
        )
        a = Engine(a_settings, open_store(url))
        b = Engine(b_settings, open_store(url))
        await a.start()
        await b.start()
        try:
            await a.create_instance("wf", "i1", None)
            assert a.active["i1"].epoch == 1
            await a.store.write(lambda tx: tx.expire_node(a.node_id))
            await _until(lambda: "i1" in b.active, "B to claim the instance")
            assert b.active["i1"].epoch == 2
            history_before = await b.store.read(lambda tx: tx.load_history("i1"))

            # A still believes it owns i1: the terminate is delivered to its memory and A's turn
            # commit is fenced out.
            assert a.nodes.valid() and "i1" in a.active
            await a.terminate("i1", "stop", recursive=False, wait=False)
            await _until(lambda: "i1" not in a.active, "A to forget the instance")

            row = await b.wait_for("i1", lambda r: r.status == pb.TERMINATED, 15)
            assert row is not None and row.status == pb.TERMINATED
            assert row.owner == b.node_id and row.epoch == 2
            history = await b.store.read(lambda tx: tx.load_history("i1"))
            events = [pb.HistoryEvent.FromString(e).WhichOneof("eventType") for e in history]
            assert history[: len(history_before)] == history_before
            assert events.count("executionTerminated") == 1
            # Asked through A, the instance's status comes from the store, not A's old memory.
            through_a = await a.get_instance("i1")
            assert through_a is not None and through_a.status == pb.TERMINATED
        finally:
            await a.stop()
            await b.stop()
            await a.store.close()
            await b.store.close()

    caplog.set_level(logging.WARNING, logger="tether.engine")
    asyncio.run(main())
    lost = [r.getMessage() for r in caplog.records if "lost the lease on 'i1'" in r.getMessage()]
    assert lost and "now owned by" in lost[0], [r.getMessage() for r in caplog.records]
