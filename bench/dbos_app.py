"""The DBOS baseline: the bench scenarios as idiomatic DBOS code, on SQLite.

Runs in its own virtualenv (``python -m bench --baseline dbos`` creates it). DBOS is a library:
the process that starts workflows also runs them, so this one process is client, engine and
worker at once. Activities are ``@DBOS.step``s; the fan-out starts child workflows (one step
each) and awaits their handles; the timer is ``DBOS.sleep_async`` (durable).

Durability: the system database is forced to WAL with ``synchronous=FULL`` — the same as
tether — and the values in force are read back and reported.

``python -m bench.dbos_app DB_PATH SCENARIO CONCURRENCY COUNT`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig, SetWorkflowID

from bench.stats import pct, rss_mb, summary

MOD = 1_000_000_007


@sa.event.listens_for(sa.engine.Engine, "connect")
def _durable(dbapi_conn: Any, record: Any) -> None:
    level = dbapi_conn.isolation_level
    dbapi_conn.isolation_level = None
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA synchronous=FULL")
    dbapi_conn.isolation_level = level


@DBOS.step()
async def step(x: int) -> int:
    return (x * 31 + 7) % MOD


@DBOS.step()
async def grow(text: str, size: int) -> str:
    return "y" * size


@DBOS.step()
async def stamp(i: int) -> float:
    return time.time()


@DBOS.workflow()
async def series(x: int) -> int:
    for _ in range(5):
        x = await step(x)
    return x


@DBOS.workflow()
async def one_step(x: int) -> int:
    return await step(x)


@DBOS.workflow()
async def parallel(x: int) -> int:
    handles = [await DBOS.start_workflow_async(one_step, x + i) for i in range(5)]
    results = [await h.get_result() for h in handles]
    return sum(results) % MOD


@DBOS.workflow()
async def empty(x: int) -> int:
    return x


@DBOS.workflow()
async def payload(size: int) -> int:
    data = await grow("x" * size, 50 * 1024)
    data = await grow(data, 100 * 1024)
    data = await grow(data, 16)
    return len(data)


@DBOS.workflow()
async def timer(seconds: float) -> int:
    await DBOS.sleep_async(seconds)
    return 1


@DBOS.workflow()
async def long(n: int) -> list[float]:
    return [await stamp(i) for i in range(n)]


WORKFLOWS: dict[str, tuple[Any, Any]] = {
    "series": (series, 1),
    "parallel": (parallel, 1),
    "empty": (empty, 1),
    "payload": (payload, 10 * 1024),
}


async def start(fn: Any, *args: Any) -> Any:
    with SetWorkflowID(uuid.uuid4().hex):
        return await DBOS.start_workflow_async(fn, *args)


async def closed_loop(
    fn: Any, value: Any, concurrency: int, count: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = count

    async def runner() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            handle = await start(fn, value)
            await handle.get_result()
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return latencies, time.perf_counter() - t0


async def run(scenario: str, concurrency: int, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {"scenario": scenario, "concurrency": concurrency}
    if scenario in WORKFLOWS:
        fn, value = WORKFLOWS[scenario]
        await closed_loop(fn, value, min(concurrency, 20), max(10, concurrency))
    me = os.times()
    if scenario in WORKFLOWS:
        fn, value = WORKFLOWS[scenario]
        latencies, elapsed = await closed_loop(fn, value, concurrency, count)
        result.update(summary(latencies))
        result["elapsed_s"] = elapsed
        result["wf_per_s"] = len(latencies) / elapsed
    elif scenario == "timers":
        sem = asyncio.Semaphore(64)

        async def start_one() -> Any:
            async with sem:
                return await start(timer, 1.0)

        t0 = time.perf_counter()
        handles = await asyncio.gather(*(start_one() for _ in range(count)))
        scheduled = time.perf_counter() - t0
        for h in handles:
            await h.get_result()
        total = time.perf_counter() - t0
        statuses = [await h.get_status() for h in handles]
        late = [(s.updated_at - s.created_at) - 1000.0 for s in statuses]
        done = [s.updated_at / 1000 for s in statuses]
        result.update(
            n=count,
            schedule_s=scheduled,
            total_s=total,
            spread_s=max(done) - min(done),
            late_p50_ms=pct(late, 50),
            late_p95_ms=pct(late, 95),
            late_max_ms=max(late),
            wf_per_s=count / total,
        )
    elif scenario == "long":
        t0 = time.perf_counter()
        handle = await start(long, count)
        stamps = await handle.get_result()
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        first, last = sum(gaps[:10]) / 10, sum(gaps[-10:]) / 10
        result.update(
            n=count,
            total_s=time.perf_counter() - t0,
            turn_first10_ms=first * 1000,
            turn_last10_ms=last * 1000,
            ratio=last / first,
        )
    after = os.times()
    result["engine_cpu_s"] = (after.user + after.system) - (me.user + me.system)
    result.update(rss_mb(os.getpid()))
    return result


def pragmas(path: str) -> dict[str, Any]:
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": mode, "synchronous": names.get(sync, sync)}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    path, scenario = sys.argv[1], sys.argv[2]
    concurrency, count = int(sys.argv[3]), int(sys.argv[4])
    config: DBOSConfig = {
        "name": "bench",
        "system_database_url": f"sqlite:///{path}",
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()

    async def go() -> dict[str, Any]:
        return await run(scenario, concurrency, count)

    result = asyncio.run(go())
    result["sqlite"] = pragmas(path)
    result["dbos_version"] = _version()
    print(json.dumps(result), flush=True)
    DBOS.destroy(destroy_registry=False)
    os._exit(0)


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    main()
