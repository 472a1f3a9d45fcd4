"""Calls from an app's event loop to the engine's, and their answers back, in batches.

``asyncio.run_coroutine_threadsafe`` plus ``wrap_future`` wakes the other loop once per call in
each direction (a self-pipe write, and a hand-over of the GIL to the woken thread). Many asyncio
clients waiting on many workflows get their answers in bursts (one group commit ends many
workflows), so a relay queues calls and answers and wakes each loop once per burst instead.
Semantics are those of ``run_coroutine_threadsafe``: the result or exception is the coroutine's,
and cancelling the caller cancels the coroutine on the engine's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False, slots=True)
class _Call:
    coro: Coroutine[Any, Any, Any]
    answer: asyncio.Future[Any]  # on the caller's loop
    task: asyncio.Task[Any] | None = None  # on the engine's loop, once started
    cancelled: bool = False  # the caller gave up (set on the caller's loop)
    outcome: list[Any] = field(default_factory=list)  # [task] once it finished


class Relay:
    """Carries coroutines from one caller loop to the engine loop and their outcomes back."""

    def __init__(self, engine: asyncio.AbstractEventLoop, caller: asyncio.AbstractEventLoop):
        self._engine = engine
        # Weak: a stub keeps one relay per caller loop, keyed weakly by that loop.
        self._caller = weakref.ref(caller)
        self._lock = threading.Lock()
        self._inbound: list[_Call] = []
        self._outbound: list[_Call] = []
        self._in_pending = False
        self._out_pending = False

    async def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the engine's loop; call from the caller's loop."""
        call = _Call(coro, asyncio.get_running_loop().create_future())
        with self._lock:
            self._inbound.append(call)
            wake = not self._in_pending
            self._in_pending = True
        if wake:
            try:
                self._engine.call_soon_threadsafe(self._start)
            except RuntimeError:  # the engine's loop is closed
                with self._lock:
                    self._inbound.remove(call)
                    self._in_pending = False
                coro.close()
                raise
        try:
            return await call.answer
        except asyncio.CancelledError:
            call.cancelled = True
            with contextlib.suppress(RuntimeError):
                self._engine.call_soon_threadsafe(self._cancel, call)
            raise

    # -- on the engine's loop ------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            calls, self._inbound = self._inbound, []
            self._in_pending = False
        for call in calls:
            if call.cancelled:
                call.coro.close()
                continue
            task = self._engine.create_task(call.coro)
            call.task = task
            task.add_done_callback(functools.partial(self._finished, call))

    @staticmethod
    def _cancel(call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()

    def _finished(self, call: _Call, task: asyncio.Task[Any]) -> None:
        call.outcome.append(task)
        with self._lock:
            self._outbound.append(call)
            wake = not self._out_pending
            self._out_pending = True
        caller = self._caller()
        if wake and caller is not None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                caller.call_soon_threadsafe(self._answer)

    # -- on the caller's loop ------------------------------------------------------------------
    def _answer(self) -> None:
        with self._lock:
            calls, self._outbound = self._outbound, []
            self._out_pending = False
        for call in calls:
            answer, task = call.answer, call.outcome[0]
            if task.cancelled():
                if not answer.done():
                    answer.cancel()
                continue
            exc = task.exception()  # retrieved even when the caller gave up
            if answer.done():
                continue
            if exc is not None:
                answer.set_exception(exc)
            else:
                answer.set_result(task.result())
