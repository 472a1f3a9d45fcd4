"""The engine's clock: what time it is, and how the timer loop waits for the next due time.

Every engine reading of workflow time goes through :func:`now_ns`, and the timer loop waits
through :func:`wait`, so tests can swap in a virtual clock (``tether.testing.TimeSkipping``)
that jumps to the next due timer instead of sleeping. Node heartbeats keep wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Clock:
    """Wall time."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def wait(self, wake: asyncio.Event, until_ns: int | None) -> None:
        """Return when ``wake`` is set or the clock reaches ``until_ns`` (None: no deadline)."""
        timeout = None if until_ns is None else max(0.0, (until_ns - self.now_ns()) / 1e9)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


_current: Clock = Clock()


def current() -> Clock:
    return _current


def use(clock: Clock) -> Clock:
    """Make ``clock`` the engine's clock; returns the one it replaces."""
    global _current
    previous, _current = _current, clock
    return previous


def now_ns() -> int:
    return _current.now_ns()


async def wait(wake: asyncio.Event, until_ns: int | None) -> None:
    await _current.wait(wake, until_ns)
