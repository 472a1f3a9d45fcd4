"""The embedded system: the bench workflows and the driver in one process, engine inside.

``python -m bench.embedded STORE SCENARIO CONCURRENCY COUNT`` runs one scenario with
``tether.embedded``'s runtime and asyncio client (same workflows, same SQLite durability as the
sidecar runs) and prints the driver's JSON, with this process's CPU seconds and peak RSS, and
the store's group commits during the measured run (``commits``; ``commit_jobs``: the writes they
carried; ``commit_busy_s``: the writer's time inside them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
from typing import Any

from bench import driver
from bench.worker import build_runtime
from tether.embedded import WorkflowRuntime, node
from tether.embedded.aio import DaprWorkflowClient


class CommitCounter:
    """Counts the store's group commits, passing each report on to the hook already set."""

    def __init__(self, store: Any) -> None:
        self.commits = self.jobs = 0
        self.busy = 0.0
        self._inner = getattr(store, "on_commit", None)
        if hasattr(store, "on_commit"):
            store.on_commit = self._done

    def _done(self, seconds: float, jobs: int) -> None:  # on the store's writer thread
        self.commits += 1
        self.jobs += jobs
        self.busy += seconds
        if self._inner is not None:
            self._inner(seconds, jobs)

    def figures(self) -> tuple[int, int, float]:
        return self.commits, self.jobs, self.busy


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client = DaprWorkflowClient(app_id="bench", store=args.store)
    await driver.warm_up(client, args)
    embedded = node.acquire("bench", args.store)
    counter = CommitCounter(embedded.engine.store)
    me = os.times()
    before = counter.figures()
    result = await driver.measure(client, args, None)
    commits, jobs, busy = (b - a for a, b in zip(before, counter.figures(), strict=True))
    after = os.times()
    node.release(embedded)
    result.update(commits=commits, commit_jobs=jobs, commit_busy_s=busy)
    result["engine_cpu_s"] = (after.user + after.system) - (me.user + me.system)
    result["worker_cpu_s"] = 0.0  # the worker is this process (counted above)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    await client.close()
    return result


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("scenario")
    parser.add_argument("concurrency", type=int)
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    runtime = build_runtime("", "", WorkflowRuntime(app_id="bench", store=args.store))
    runtime.start()
    try:
        result = asyncio.run(run(args))
    finally:
        runtime.shutdown()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
