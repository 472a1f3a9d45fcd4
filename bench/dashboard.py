"""Dashboard figures on a large store: ``python -m bench.dashboard [--instances N] [--backend B]``.

Fills a fresh store (SQLite, or with ``--backend postgres`` a throwaway cluster of Debian's
server, vacuumed and analysed after the fill as autovacuum does after a bulk insert) with
generated instances, written directly with the store's write API in batches, and one instance
with a 10,000-event history, then times the dashboard's pages server-side: each request goes
through the ASGI app in this process (routing, the read model's SQL, rendering), with no socket
in between. Prints the median and the slowest of a few rounds. Targets: the list (first page;
filtered by status; by name) and the by-name statistics under 300 ms, the 10,000-event instance
page under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tether import pb
from tether.core.events import new_event, workflow_started
from tether.dashboard import mount
from tether.dashboard.source import Source
from tether.engine.query import Query
from tether.store import open_store
from tether.store.base import InstanceRow, Tx

NAMES = [f"workflow-{i}" for i in range(12)]
APPS = ("orders", "billing", "shipping")
FAILURES = [
    pb.TaskFailureDetails(
        errorType=kind, errorMessage=message, stackTrace={"value": f"Traceback …\n  {message}"}
    ).SerializeToString()
    for kind, message in (
        ("ValueError", "card declined"),
        ("TimeoutError", "warehouse did not answer"),
        ("KeyError", "'sku'"),
    )
]
STATUSES = (
    [pb.COMPLETED] * 70
    + [pb.FAILED] * 10
    + [pb.RUNNING] * 10
    + [pb.TERMINATED] * 5
    + [pb.SUSPENDED] * 5
)
BATCH = 2000
TARGETS_MS = {"list": 300, "stats": 300, "instance": 1000}


def _instance(i: int, now: int, rng: random.Random) -> InstanceRow:
    created = now - rng.randrange(0, 24 * 3600 * 10**9)
    status = rng.choice(STATUSES)
    terminal = status in pb.TERMINAL_STATUSES
    took = rng.randrange(5 * 10**6, 30 * 10**9)
    return InstanceRow(
        instance_id=f"inst-{i:07d}",
        app_id=APPS[i % len(APPS)],
        name=rng.choice(NAMES),
        status=status,
        execution_id=f"{i:032x}",
        created_at=created,
        updated_at=created + took,
        started_at=created + 1_000_000,
        completed_at=created + took if terminal else None,
        input=f'{{"order": {i}}}',
        output='{"ok": true}' if status == pb.COMPLETED else None,
        failure=rng.choice(FAILURES) if status == pb.FAILED else None,
    )


def _big_history(now: int, events: int) -> list[bytes]:
    out = []
    start = new_event(now - 3600 * 10**9)
    start.executionStarted.name = "big"
    start.executionStarted.input.value = '{"size": "large"}'
    out.append(workflow_started(now - 3600 * 10**9).SerializeToString())
    out.append(start.SerializeToString())
    t = now - 3600 * 10**9
    task = 0
    while len(out) < events:
        t += 300_000_000
        scheduled = new_event(t, task)
        scheduled.taskScheduled.name = f"step-{task % 7}"
        scheduled.taskScheduled.input.value = f'{{"n": {task}}}'
        done = new_event(t + 200_000_000)
        done.taskCompleted.taskScheduledId = task
        done.taskCompleted.result.value = f'{{"n": {task}, "ok": true}}'
        out += [
            scheduled.SerializeToString(),
            workflow_started(t + 210_000_000).SerializeToString(),
            done.SerializeToString(),
        ]
        task += 1
    return out[:events]


async def fill(url: str, count: int, history_events: int) -> None:
    store = open_store(url)
    rng = random.Random(7)
    now = time.time_ns()
    began = time.perf_counter()
    try:
        for first in range(0, count, BATCH):
            rows = [_instance(i, now, rng) for i in range(first, min(count, first + BATCH))]

            def write(tx: Tx, rows: list[InstanceRow] = rows) -> None:
                for row in rows:
                    tx.upsert_instance(row)

            await store.write(write)
        big = InstanceRow(
            instance_id="big-history",
            app_id="orders",
            name="big",
            status=pb.RUNNING,
            execution_id="b" * 32,
            created_at=now - 3600 * 10**9,
            updated_at=now,
            started_at=now - 3600 * 10**9,
        )
        history = _big_history(now, history_events)

        def write_big(tx: Tx) -> None:
            tx.upsert_instance(big)
            tx.append_history(big.instance_id, 0, history)

        await store.write(write_big)
    finally:
        await store.close()
    print(
        f"filled {count:,} instances and a {history_events:,}-event history "
        f"in {time.perf_counter() - began:.1f} s"
    )


async def measure(url: str, rounds: int) -> list[tuple[str, str, float, float, float]]:
    store = open_store(url)
    app = mount(Source(Query(store)))
    results = []
    pages = [
        ("list", "first page", "/dashboard/instances"),
        ("list", "status FAILED", "/dashboard/instances?status=FAILED"),
        ("list", "status RUNNING", "/dashboard/instances?status=RUNNING"),
        ("list", "name workflow-3", "/dashboard/instances?name=workflow-3"),
        ("list", "name + status", "/dashboard/instances?name=workflow-3&status=FAILED"),
        ("stats", "by name, 1 h", "/dashboard/workflows?window=1h"),
        ("stats", "by name, 24 h", "/dashboard/workflows?window=24h"),
        ("stats", "by name, 30 d", "/dashboard/workflows?window=30d"),
        ("instance", "10,000 events", "/dashboard/instance?id=big-history"),
    ]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for kind, label, path in pages:
                times = []
                for _ in range(rounds + 1):  # the first warms the caches and is dropped
                    began = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times = times[1:]
                results.append((kind, label, min(times), statistics.median(times), max(times)))
    finally:
        await store.close()
    return results


@contextlib.contextmanager
def _store(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """The store's URL, and whether it holds the instances already (a reused SQLite file)."""
    if args.backend == "postgres":
        from tether.testing.postgres import postgres_cluster

        with postgres_cluster(settings={"fsync": "off"}) as cluster:
            yield cluster.url(), False
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "bench-dashboard.db"
        yield f"sqlite:///{path}", path.exists()


def _vacuum(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # What autovacuum does soon after 100,000 inserts: statistics for the planner, and the
        # visibility map that lets index-only scans skip the table.
        conn.execute("VACUUM ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", type=Path, help="reuse (or create) this SQLite store file")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with _store(args) as (url, filled):
        if not filled:
            asyncio.run(fill(url, args.instances, args.history))
            if args.backend == "postgres":
                _vacuum(url)
        results = asyncio.run(measure(url, args.rounds))
    print(
        f"\n{'page':<10} {'case':<18} {'min ms':>8} {'median ms':>10} {'max ms':>8} {'target':>8}"
    )
    all_ok = True
    for kind, label, fastest, median, slowest in results:
        ok = median < TARGETS_MS[kind]
        all_ok = all_ok and ok
        print(
            f"{kind:<10} {label:<18} {fastest:>8.1f} {median:>10.1f} {slowest:>8.1f} "
            f"{'<' + str(TARGETS_MS[kind]):>8} {'ok' if ok else 'over'}"
        )
    load = os.getloadavg()
    print(
        f"\n{args.backend}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} CPUs while measuring"
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
