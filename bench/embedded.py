"""The embedded system: the bench workflows and the driver in one process, engine inside.

``python -m bench.embedded STORE SCENARIO CONCURRENCY COUNT`` runs one scenario with
``tether.embedded``'s runtime and asyncio client (same workflows, same SQLite durability as the
sidecar runs) and prints the driver's JSON, with this process's CPU seconds and peak RSS.
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
from tether.embedded import WorkflowRuntime
from tether.embedded.aio import DaprWorkflowClient


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client = DaprWorkflowClient(app_id="bench", store=args.store)
    await driver.warm_up(client, args)
    me = os.times()
    result = await driver.measure(client, args, None)
    after = os.times()
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
