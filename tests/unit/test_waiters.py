"""A waiter's periodic look at an instance this node is committing does not read the store (the
commit hands its row over); otherwise, and at the deadline, it looks afresh."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from tests.conftest import until
from tether import pb
from tether.engine.waiters import Waiters
from tether.store import InstanceRow


def _row(status: int) -> InstanceRow:
    return InstanceRow("i1", "app", "wf", status, "e1", 1, 1)


class Owner:
    """Waiters' own methods over a node that holds instance i1 in memory."""

    wait_for = Waiters.wait_for
    notify = Waiters.notify
    _forget_watcher = Waiters._forget_watcher
    _committing_here = Waiters._committing_here

    def __init__(self, committing: bool) -> None:
        self._watchers: dict[str, Any] = {}
        self.active = {"i1": SimpleNamespace(committing=committing)}
        self.nodes = SimpleNamespace(valid=lambda: True)
        self.running = True
        self.looks = 0

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        self.looks += 1
        return _row(pb.RUNNING)

    def watched(self) -> Any:
        watchers = self._watchers.get("i1") or {}
        return next(iter(watchers), None)


async def _tick(owner: Owner) -> None:
    """Until the waiter's one-second wait has run out once (it registers a new future)."""
    first = owner.watched()
    await until(lambda: owner.watched() not in (None, first), timeout=5)


def test_a_look_during_our_commit_waits_for_the_commit() -> None:
    async def main() -> None:
        owner = Owner(committing=True)
        done = asyncio.ensure_future(owner.wait_for("i1", lambda r: r.status == pb.COMPLETED, 30))
        await until(lambda: owner.looks == 1)
        await _tick(owner)
        assert owner.looks == 1
        owner.notify("i1", _row(pb.COMPLETED))
        row = await asyncio.wait_for(done, 5)
        assert row is not None and row.status == pb.COMPLETED

    asyncio.run(main())


def test_a_look_without_a_commit_of_ours_reads_again() -> None:
    async def main() -> None:
        owner = Owner(committing=False)
        done = asyncio.ensure_future(owner.wait_for("i1", lambda r: r.status == pb.COMPLETED, 30))
        await until(lambda: owner.looks == 1)
        await _tick(owner)
        assert owner.looks == 2
        done.cancel()

    asyncio.run(main())


def test_the_deadline_looks_afresh_even_during_our_commit() -> None:
    async def main() -> None:
        owner = Owner(committing=True)
        row = await owner.wait_for("i1", lambda r: r.status == pb.COMPLETED, 1.5)
        assert row is not None and row.status == pb.RUNNING
        assert owner.looks == 2  # the first look and the one at the deadline

    asyncio.run(main())
