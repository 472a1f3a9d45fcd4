"""Activities run as the SDK runs them: sync ones in a thread pool, async ones on the event loop,
within the SDK's concurrency options."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import tether.embedded as wf

FAN_OUT = 8


class Peak:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.threads: set[str] = set()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.threads.add(threading.current_thread().name)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _fan_out(tmp_path: Path, peak: Peak, asynchronous: bool, **options: Any) -> Any:
    store = str(tmp_path / "act.db")
    runtime = wf.WorkflowRuntime(app_id="act", store=store, **options)

    @runtime.workflow(name="fan")
    def fan(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        results = yield wf.when_all([ctx.call_activity("work", input=i) for i in range(n)])
        return sum(results)

    if asynchronous:

        @runtime.activity(name="work")
        async def work_async(ctx: Any, i: int) -> int:
            peak.enter()
            await asyncio.sleep(0.05)
            peak.leave()
            return i

    else:

        @runtime.activity(name="work")
        def work(ctx: Any, i: int) -> int:
            peak.enter()
            time.sleep(0.05)
            peak.leave()
            return i

    runtime.start()
    client = wf.DaprWorkflowClient(app_id="act", store=store)
    try:
        iid = client.schedule_new_workflow(fan, input=FAN_OUT)
        return client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
    finally:
        client.close()
        runtime.shutdown()


def test_sync_activities_run_in_a_pool_of_the_configured_size(tmp_path: Path) -> None:
    peak = Peak()
    state = _fan_out(tmp_path, peak, False, maximum_thread_pool_workers=2)
    assert state.serialized_output == str(sum(range(FAN_OUT)))
    assert peak.peak == 2  # never more than the pool, and the pool is used
    assert all(name.startswith("tether-activity") for name in peak.threads)


def test_concurrent_activity_work_items_are_capped(tmp_path: Path) -> None:
    peak = Peak()
    state = _fan_out(tmp_path, peak, True, maximum_concurrent_activity_work_items=3)
    assert state.serialized_output == str(sum(range(FAN_OUT)))
    assert peak.peak == 3
    assert len(peak.threads) == 1 and next(iter(peak.threads)).startswith("tether-embedded")
