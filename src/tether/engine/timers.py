"""Durable timers of owned instances: one heap, one loop sleeping until the earliest is due.

A timer is an inbox message visible at its fire time; the loop only wakes its instance, whose
next turn then delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq

from tether.engine.convert import now_ns
from tether.engine.host import Host


class Timers(Host):
    _timer_heap: list[tuple[int, str]]
    _timer_wake: asyncio.Event

    def arm(self, when: int, instance_id: str) -> None:
        heapq.heappush(self._timer_heap, (when, instance_id))
        if self._timer_heap[0][0] == when:
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timer_wake.clear()
            now = now_ns()
            while self._timer_heap and self._timer_heap[0][0] <= now:
                _, instance_id = heapq.heappop(self._timer_heap)
                active = self.active.get(instance_id)
                if active is not None:
                    self.schedule(active)
            timeout = None
            if self._timer_heap:
                timeout = max(0.0, (self._timer_heap[0][0] - now_ns()) / 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout)
