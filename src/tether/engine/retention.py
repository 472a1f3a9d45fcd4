"""Automatic purge of finished instances: a Dapr Configuration's
``spec.workflow.stateRetentionPolicy`` (``anyTerminal``, ``completed``, ``failed``,
``terminated``; a specific status wins over ``anyTerminal``).

Each node sweeps the terminal instances of its app, purges those kept longer than their status
allows (recursively: children go with their root; a child whose parent is still stored waits for
it), and sleeps until the next one is due, at most the shortest retention time (30 s at most), so
an instance that finishes meanwhile is not kept much longer than asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from tether import pb
from tether.engine.engine import Engine
from tether.errors import FailedPrecondition, NotFound, TetherError
from tether.store.base import InstanceFilter, InstanceRow

log = logging.getLogger(__name__)

_NANOS = 1_000_000_000
_LONGEST_SLEEP = 30.0
_SHORTEST_SLEEP = 0.05


class Retention:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keep: dict[int, float] = {}
        for status in pb.TERMINAL_STATUSES:
            seconds = engine.settings.retention_for(pb.STATUS_NAMES[status])
            if seconds is not None:
                self._keep[status] = seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._keep)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="tether-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        longest = min(_LONGEST_SLEEP, max(_SHORTEST_SLEEP, min(self._keep.values())))
        while True:
            try:
                due = await self.sweep(time.time_ns())
            except TetherError:
                log.exception("retention sweep failed; trying again later")
                due = None
            wait = longest
            if due is not None:
                wait = min(longest, max(_SHORTEST_SLEEP, (due - time.time_ns()) / _NANOS))
            await asyncio.sleep(wait)

    def _due_at(self, row: InstanceRow) -> int:
        ended = row.completed_at or row.updated_at
        return ended + int(self._keep[row.status] * _NANOS)

    async def sweep(self, now: int) -> int | None:
        """Purge what is due at ``now``; return when the next kept instance falls due."""
        engine = self.engine
        rows = await engine.store.read(
            lambda tx: tx.list_instances(
                InstanceFilter(app_id=engine.app_id, statuses=sorted(self._keep))
            )
        )
        upcoming: int | None = None
        for row in rows:
            due = self._due_at(row)
            if due > now:
                upcoming = due if upcoming is None else min(upcoming, due)
                continue
            if row.parent_instance_id and await engine.get_instance(row.parent_instance_id):
                continue  # goes with its parent
            with contextlib.suppress(NotFound, FailedPrecondition):
                count = await engine.purge(row.instance_id, True)
                log.info(
                    "retention: purged %r (%s, kept %gs)%s",
                    row.instance_id,
                    pb.STATUS_NAMES[row.status],
                    self._keep[row.status],
                    f" with {count - 1} child instance(s)" if count > 1 else "",
                )
        return upcoming
