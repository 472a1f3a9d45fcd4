"""The SDK worker process: a ``WorkflowRuntime`` with the bench workflows, default settings.

Run as ``python -m bench.worker HOST:PORT``; it prints ``ready`` once started and runs until
its standard input closes or it receives SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

MOD = 1_000_000_007


def build_runtime(
    host: str, port: str, rt: wf.WorkflowRuntime | None = None
) -> wf.WorkflowRuntime:
    """The bench workflows, registered on ``rt`` (default: an SDK runtime for HOST:PORT)."""
    rt = rt if rt is not None else wf.WorkflowRuntime(host=host, port=port)

    @rt.activity(name="step")
    def step(ctx: Any, x: int) -> int:
        return (x * 31 + 7) % MOD

    @rt.activity(name="grow")
    def grow(ctx: Any, data: list[Any]) -> list[Any]:
        text, size = data
        return [("y" * size), len(text)]

    @rt.activity(name="stamp")
    def stamp(ctx: Any, i: int) -> float:
        return time.time()

    @rt.workflow(name="series")
    def series(ctx: Any, x: int) -> Any:
        for _ in range(5):
            x = yield ctx.call_activity(step, input=x)
        return x

    @rt.workflow(name="parallel")
    def parallel(ctx: Any, x: int) -> Any:
        tasks = [ctx.call_activity(step, input=x + i) for i in range(5)]
        results = yield wf.when_all(tasks)
        return sum(results) % MOD

    @rt.workflow(name="empty")
    def empty(ctx: Any, x: int) -> Any:
        return x

    @rt.workflow(name="payload")
    def payload(ctx: Any, size: int) -> Any:
        # 10 KB in; the activities hand on 50 KB, 100 KB, then a short answer.
        data = ["x" * size, 50 * 1024]
        data = yield ctx.call_activity(grow, input=data)
        data = yield ctx.call_activity(grow, input=[data[0], 100 * 1024])
        data = yield ctx.call_activity(grow, input=[data[0], 16])
        return data[1]

    @rt.workflow(name="timer")
    def timer(ctx: Any, seconds: float) -> Any:
        yield ctx.create_timer(timedelta(seconds=seconds))
        return 1

    @rt.workflow(name="waiter")
    def waiter(ctx: Any, _: Any) -> Any:
        value = yield ctx.wait_for_external_event("go")
        return value

    @rt.workflow(name="long")
    def long(ctx: Any, n: int) -> Any:
        stamps = []
        for i in range(n):
            t = yield ctx.call_activity(stamp, input=i)
            stamps.append(t)
        return stamps

    return rt


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    host, port = sys.argv[1].rsplit(":", 1)
    rt = build_runtime(host, port)
    rt.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stop.wait()
    rt.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
