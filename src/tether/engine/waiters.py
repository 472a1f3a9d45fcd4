"""Waiting for an instance to reach a condition, woken by the commits that may satisfy it.

A commit on this node hands its waiters the committed row; a commit elsewhere reaches them
through the change feed, and they read the row afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tether.engine.convert import row_from_state
from tether.engine.host import Host
from tether.store.base import InstanceRow

Condition = Callable[[InstanceRow], bool]


class Waiters(Host):
    # instance -> each waiter's future and the condition it waits for
    _watchers: dict[str, dict[asyncio.Future[InstanceRow | None], Condition]]

    def notify(self, instance_id: str, row: InstanceRow | None = None) -> None:
        """Wake the instance's waiters whose condition the just-committed row satisfies (a
        commit that leaves it unsatisfied wakes nobody); with no row, wake all to read afresh."""
        watchers = self._watchers.get(instance_id)
        if not watchers:
            return
        if row is None:
            woken = list(watchers)
            watchers.clear()
        else:
            woken = [fut for fut, condition in watchers.items() if condition(row)]
            for fut in woken:
                del watchers[fut]
        if not watchers:
            self._watchers.pop(instance_id, None)
        for fut in woken:
            if not fut.done():
                fut.set_result(row)

    def notify_all(self) -> None:
        for instance_id in list(self._watchers):
            self.notify(instance_id)

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        active = self.active.get(instance_id)
        # Memory answers only while this node surely holds the lease; otherwise the store does
        # (another node may have moved the instance on meanwhile).
        if (
            active is not None
            and not active.committing
            and active.creation is None
            and self.nodes.valid()
        ):
            return row_from_state(active.state, self.node_id)
        return await self.store.read(lambda tx: tx.get_instance(instance_id), keyed=True)

    def _committing_here(self, instance_id: str) -> bool:
        """A commit of the instance is on its way on this node, which holds its lease."""
        active = self.active.get(instance_id)
        return active is not None and active.committing and self.nodes.valid()

    async def wait_for(
        self, instance_id: str, condition: Condition, timeout: float | None
    ) -> InstanceRow | None:
        """Wait until the stored instance satisfies ``condition`` (or is gone); None if unknown."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        committed: InstanceRow | None = None
        row: InstanceRow | None = None
        ticked = False  # the last wait ended by its timeout, not by a commit
        while True:
            fut: asyncio.Future[InstanceRow | None] = loop.create_future()
            self._watchers.setdefault(instance_id, {})[fut] = condition
            # A row handed over by a commit is used only if it already satisfies the condition;
            # otherwise read afresh (after registering), so no later commit can be missed.
            if committed is not None and condition(committed):
                row = committed
            elif not (
                ticked
                and self._committing_here(instance_id)
                and (deadline is None or loop.time() < deadline)
            ):
                row = await self.get_instance(instance_id)
            # else the periodic look found a commit of ours in flight (a read would go to the
            # store): that commit hands its row over, or, failing, leaves memory for the next.
            ticked = False
            if row is None or condition(row) or not self.running:
                self._forget_watcher(instance_id, fut)
                return row
            remaining = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if remaining <= 0:
                self._forget_watcher(instance_id, fut)
                return row
            try:
                committed = await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                committed = None
                ticked = True
                self._forget_watcher(instance_id, fut)

    def _forget_watcher(self, instance_id: str, fut: asyncio.Future[InstanceRow | None]) -> None:
        watchers = self._watchers.get(instance_id)
        if watchers is not None:
            watchers.pop(fut, None)
            if not watchers:
                del self._watchers[instance_id]
