"""The client process: drives one scenario through the official SDK's asyncio client.

``python -m bench.driver HOST:PORT[,HOST:PORT...] SCENARIO CONCURRENCY COUNT [--watch PID ...]``
prints one JSON object: latencies, throughput, and the CPU seconds that the watched processes
(tether, the worker) and the driver itself spent during the measured window. With several
addresses (nodes of one app), the closed loop starts workflows on them round-robin and waits on
the node it started each on. ``--handshake``: print ``warm`` after the warm-up and wait for a line
on standard input before measuring (the caller takes its own snapshots around the window).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from dapr.ext.workflow.aio import DaprWorkflowClient

from bench.stats import cpu_seconds, pct, rss_mb, summary

INPUTS: dict[str, tuple[str, Any]] = {
    "series": ("series", 1),
    "parallel": ("parallel", 1),
    "empty": ("empty", 1),
    "payload": ("payload", 10 * 1024),
}


async def closed_loop(
    client: Any, name: str, value: Any, concurrency: int, count: int
) -> tuple[list[float], float]:
    """``client``: one client, or a list of them (one per node), used round-robin."""
    clients: Sequence[Any] = client if isinstance(client, list) else [client]
    turns = itertools.cycle(clients)
    latencies: list[float] = []
    remaining = count

    async def one_runner() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            client = next(turns)
            t0 = time.perf_counter()
            iid = await client.schedule_new_workflow(
                name, input=value, instance_id=uuid.uuid4().hex
            )
            state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
            latencies.append(time.perf_counter() - t0)
            if state is None or state.runtime_status.name != "COMPLETED":
                raise RuntimeError(f"{name} {iid} ended as {state and state.runtime_status}")

    start = time.perf_counter()
    await asyncio.gather(*(one_runner() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def timers(client: DaprWorkflowClient, count: int, seconds: float) -> dict[str, Any]:
    ids = [uuid.uuid4().hex for _ in range(count)]
    sem = asyncio.Semaphore(64)

    async def start(iid: str) -> None:
        async with sem:
            await client.schedule_new_workflow("timer", input=seconds, instance_id=iid)

    t0 = time.perf_counter()
    await asyncio.gather(*(start(i) for i in ids))
    scheduled = time.perf_counter() - t0

    async def wait(iid: str) -> Any:
        async with sem:
            return await client.wait_for_workflow_completion(iid, timeout_in_seconds=300)

    states = await asyncio.gather(*(wait(i) for i in ids))
    total = time.perf_counter() - t0
    late = []
    done = []
    for s in states:
        if s is None or s.runtime_status.name != "COMPLETED":
            raise RuntimeError(f"timer workflow ended as {s and s.runtime_status}")
        done.append(s.last_updated_at.timestamp())
        late.append((s.last_updated_at - s.created_at).total_seconds() - seconds)
    return {
        "n": count,
        "schedule_s": scheduled,
        "total_s": total,
        "spread_s": max(done) - min(done),
        "late_p50_ms": pct([x * 1000 for x in late], 50),
        "late_p95_ms": pct([x * 1000 for x in late], 95),
        "late_max_ms": max(late) * 1000,
        "wf_per_s": count / total,
    }


async def long_run(client: DaprWorkflowClient, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    iid = await client.schedule_new_workflow("long", input=n, instance_id=uuid.uuid4().hex)
    state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    total = time.perf_counter() - t0
    if state is None or state.runtime_status.name != "COMPLETED":
        raise RuntimeError(f"long workflow ended as {state and state.runtime_status}")
    stamps = json.loads(state.serialized_output)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    first = sum(gaps[:10]) / 10
    last = sum(gaps[-10:]) / 10
    return {
        "n": n,
        "total_s": total,
        "turn_first10_ms": first * 1000,
        "turn_last10_ms": last * 1000,
        "ratio": last / first,
    }


async def waiting(client: Any, count: int, watch: int | None = None) -> dict[str, Any]:
    """``count`` instances waiting on an event at once, then all released. The RSS while they
    wait is the watched process's (the sidecar), else this process's (embedded)."""
    ids = [uuid.uuid4().hex for _ in range(count)]
    sem = asyncio.Semaphore(64)

    async def start(iid: str) -> None:
        async with sem:
            await client.schedule_new_workflow("waiter", input=None, instance_id=iid)

    t0 = time.perf_counter()
    await asyncio.gather(*(start(i) for i in ids))
    scheduled = time.perf_counter() - t0
    rss_waiting = rss_mb(watch or os.getpid())["rss_mb"]

    async def release(iid: str) -> Any:
        async with sem:
            await client.raise_workflow_event(iid, "go", data=1)
            return await client.wait_for_workflow_completion(iid, timeout_in_seconds=300)

    states = await asyncio.gather(*(release(i) for i in ids))
    if any(s is None or s.runtime_status.name != "COMPLETED" for s in states):
        raise RuntimeError("a waiting workflow did not complete")
    total = time.perf_counter() - t0
    return {"n": count, "schedule_s": scheduled, "total_s": total, "rss_waiting_mb": rss_waiting,
            "wf_per_s": count / total}  # fmt: skip


async def warm_up(client: Any, args: argparse.Namespace) -> None:
    """Connections, code paths, the worker's pools; not measured."""
    if args.scenario in INPUTS:
        name, value = INPUTS[args.scenario]
        await closed_loop(client, name, value, min(args.concurrency, 20), max(10, args.concurrency))


async def measure(client: Any, args: argparse.Namespace, watch: int | None) -> dict[str, Any]:
    """Run the scenario once; ``watch``: the process whose RSS the waiting scenario reports.
    ``client``: one client, or a list (the closed loop spreads over them; the rest use the
    first)."""
    scenario = args.scenario
    result: dict[str, Any] = {"scenario": scenario, "concurrency": args.concurrency}
    if scenario in INPUTS:
        name, value = INPUTS[scenario]
        latencies, elapsed = await closed_loop(client, name, value, args.concurrency, args.count)
        result.update(summary(latencies))
        result["elapsed_s"] = elapsed
        result["wf_per_s"] = len(latencies) / elapsed
        return result
    first = client[0] if isinstance(client, list) else client
    if scenario == "timers":
        result.update(await timers(first, args.count, 1.0))
    elif scenario == "long":
        result.update(await long_run(first, args.count))
    elif scenario == "waiting":
        result.update(await waiting(first, args.count, watch))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    clients = []
    for address in args.address.split(","):
        host, port = address.rsplit(":", 1)
        clients.append(DaprWorkflowClient(host=host, port=port))
    client: Any = clients if len(clients) > 1 else clients[0]
    await warm_up(client, args)
    if args.handshake:
        print("warm", flush=True)
        sys.stdin.readline()
    watched = {pid: cpu_seconds(pid) for pid in args.watch}
    me = os.times()
    result = await measure(client, args, args.watch[0] if args.watch else None)
    after = os.times()
    result["cpu_s"] = {str(pid): cpu_seconds(pid) - t for pid, t in watched.items()}
    result["driver_cpu_s"] = (after.user + after.system) - (me.user + me.system)
    return result


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("scenario")
    parser.add_argument("concurrency", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--watch", type=int, nargs="*", default=[])
    parser.add_argument("--handshake", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
