"""Where one embedded workflow's latency goes: a timeline of its turns, commits and hops.

``python -m bench.timeline SCENARIO COUNT [PICK]`` runs SCENARIO at concurrency 1 with the engine
embedded (as ``bench.embedded`` does, on a fresh SQLite file) and prints, for workflow number
PICK, every step with its thread and the time since the previous step: the SDK executing a
turn, the turn's commit being queued and run by the store's writer (its fsync included), the
answer coming back to the engine's loop, the activity thread, and the client. Gaps between a
step on one thread and the next on another are the hops. The wrappers cost a few microseconds a
step, so read the gaps, not the absolute figure.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import driver
from bench import embedded as bench_embedded
from tether.embedded import worker as embedded_worker
from tether.engine import activities, turns
from tether.protocol import servicer
from tether.store.sqlite import store as sqlite_store

Step = tuple[float, str, str]
_log: list[Step] = []

_WATCHED: list[tuple[Any, str, str]] = [
    (servicer.Servicer, "StartInstance", "StartInstance"),
    (servicer.Servicer, "WaitForInstanceCompletion", "WaitForInstanceCompletion"),
    (turns.Turns, "schedule", "plan a turn"),
    (embedded_worker.InProcessWorker, "_turn", "SDK runs the turn"),
    (turns.Turns, "complete_turn", "engine takes the answer"),
    (sqlite_store.SqliteStore, "write", "commit queued / settled"),
    (sqlite_store.SqliteStore, "_run_batch", "writer: group commit"),
    (turns.Turns, "_after_turn", "turn's effects released"),
    (embedded_worker.InProcessWorker, "_activity", "activity handed to the pool"),
    (embedded_worker.InProcessWorker, "_run_sync", "activity thread"),
    (embedded_worker.InProcessWorker, "_collect", "activity results collected"),
    (activities.Activities, "_complete_known_activity", "activity result in the inbox"),
]


def _mark(label: str) -> None:
    _log.append((time.perf_counter(), threading.current_thread().name, label))


def _wrap(owner: Any, name: str, label: str) -> None:
    fn = getattr(owner, name)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            _mark(f">{label}")
            try:
                return await fn(*args, **kwargs)
            finally:
                _mark(f"<{label}")

        setattr(owner, name, coroutine)
    else:

        @functools.wraps(fn)
        def plain(*args: Any, **kwargs: Any) -> Any:
            _mark(f">{label}")
            try:
                return fn(*args, **kwargs)
            finally:
                _mark(f"<{label}")

        setattr(owner, name, plain)


async def _closed_loop(client: Any, name: str, value: Any, concurrency: int, count: int) -> Any:
    """The driver's closed loop, marking each workflow's start and the client seeing its end."""
    _log.clear()
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        _mark("START")
        iid = await client.schedule_new_workflow(name, input=value)
        await client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
        _mark("client sees the end")
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - started


def report(pick: int) -> list[str]:
    starts = [i for i, step in enumerate(_log) if step[2] == "START"]
    pick = min(pick, len(starts) - 1)
    end = starts[pick + 1] if pick + 1 < len(starts) else len(_log)
    steps = _log[starts[pick] : end]
    t0 = previous = steps[0][0]
    lines = [f"{'ms':>8} {'+ms':>7}  {'thread':<24} step"]
    for at, thread, label in steps:
        lines.append(f"{(at - t0) * 1e3:8.3f} {(at - previous) * 1e3:7.3f}  {thread:<24} {label}")
        previous = at
    return lines


def main() -> None:
    scenario, count = sys.argv[1], int(sys.argv[2])
    pick = int(sys.argv[3]) if len(sys.argv) > 3 else count // 2
    for owner, name, label in _WATCHED:
        _wrap(owner, name, label)
    driver.closed_loop = _closed_loop  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        store = f"sqlite:///{Path(tmp) / 'tether.db'}"
        os.environ["TETHER_HOME"] = str(Path(tmp) / "home")
        sys.argv = [sys.argv[0], store, scenario, "1", str(count)]
        bench_embedded.main()
    print("\n".join(report(pick)))


if __name__ == "__main__":
    main()
