"""The relay between an app's event loop and the engine's: run_coroutine_threadsafe's semantics,
with one wake-up of each loop per burst of calls or answers."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tether.embedded.relay import Relay


@pytest.fixture
def engine_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_results_and_exceptions_come_back_to_each_caller(
    engine_loop: asyncio.AbstractEventLoop,
) -> None:
    async def on_engine(i: int) -> int:
        assert asyncio.get_running_loop() is engine_loop
        await asyncio.sleep(0)
        if i % 7 == 3:
            raise KeyError(i)
        return i * 2

    async def scenario() -> list[Any]:
        relay = Relay(engine_loop, asyncio.get_running_loop())
        return await asyncio.gather(
            *(relay.call(on_engine(i)) for i in range(100)), return_exceptions=True
        )

    outcomes = asyncio.run(scenario())
    for i, outcome in enumerate(outcomes):
        if i % 7 == 3:
            assert isinstance(outcome, KeyError) and outcome.args == (i,)
        else:
            assert outcome == i * 2


class _CountingRelay(Relay):
    """Tells when ``expected`` answers are queued for the caller."""

    def __init__(self, engine: Any, caller: Any, expected: int) -> None:
        super().__init__(engine, caller)
        self.queued = threading.Event()
        self._expected = expected
        self._count = 0

    def _finished(self, call: Any, task: Any) -> None:
        super()._finished(call, task)
        self._count += 1
        if self._count == self._expected:
            self.queued.set()


def test_a_burst_of_answers_wakes_the_caller_once(engine_loop: asyncio.AbstractEventLoop) -> None:
    count = 20
    release = asyncio.Event()
    arrived = 0

    async def held(i: int) -> int:
        nonlocal arrived
        arrived += 1
        if arrived == count:
            release.set()
        await release.wait()
        return i

    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        relay = _CountingRelay(engine_loop, loop, count)
        wakes = 0
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakes
            wakes += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        calls = [asyncio.ensure_future(relay.call(held(i))) for i in range(count)]
        await asyncio.sleep(0)  # every call is sent
        # Block this loop until every answer is queued: they must all come with one wake-up.
        assert relay.queued.wait(10)
        results = await asyncio.gather(*calls)
        return results, wakes

    results, wakes = asyncio.run(scenario())
    assert results == list(range(count))
    assert wakes == 1


def test_cancelling_the_caller_cancels_the_coroutine_on_the_engine(
    engine_loop: asyncio.AbstractEventLoop,
) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def scenario() -> None:
        relay = Relay(engine_loop, asyncio.get_running_loop())
        call = asyncio.ensure_future(relay.call(forever()))
        await asyncio.sleep(0)  # the call is sent
        assert await asyncio.to_thread(started.wait, 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(scenario())
    assert cancelled.wait(5)


def test_a_closed_engine_loop_refuses_the_call() -> None:
    closed = asyncio.new_event_loop()
    closed.close()

    async def never() -> None:
        raise AssertionError("ran on a closed loop")

    async def scenario() -> None:
        relay = Relay(closed, asyncio.get_running_loop())
        with pytest.raises(RuntimeError):
            await relay.call(never())

    asyncio.run(scenario())


def test_a_relay_does_not_keep_its_callers_loop_alive(
    engine_loop: asyncio.AbstractEventLoop,
) -> None:
    async def answer() -> int:
        return 1

    relays: list[Relay] = []

    async def scenario() -> weakref.ref[asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        relays.append(Relay(engine_loop, loop))
        assert await relays[0].call(answer()) == 1
        return weakref.ref(loop)

    caller = asyncio.run(scenario())
    gc.collect()
    assert caller() is None
    assert relays  # the relay itself is still held
