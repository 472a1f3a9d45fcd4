"""The store reads the dashboard adds: per-name statistics computed by the database, the store's
size, and the parent/child listing filter (no browser: exact figures on known rows), on every
backend chosen with ``--backends``."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import chosen_backends
from tests.store_contract.conftest import store_url
from tether import pb
from tether.engine.query import PERCENTILES, ListQuery, Query
from tether.store import InstanceFilter, InstanceRow, open_store
from tether.store.base import NameStatsRow
from tether.store.sqlite.schema import prepare

__all__ = ["store_url"]  # the store contract suite's fixture: a store of the test's backend

S = 1_000_000_000
FAIL_A = pb.TaskFailureDetails(errorType="ValueError", errorMessage="card declined")
FAIL_A_OTHER_STACK = pb.TaskFailureDetails(
    errorType="ValueError", errorMessage="card declined", stackTrace={"value": "line 2"}
)
FAIL_B = pb.TaskFailureDetails(errorType="KeyError", errorMessage="'sku'")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Store-level reads: each body runs on each backend, as the store contract suite's do.
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", chosen_backends(metafunc.config))


def row(
    instance_id: str,
    name: str,
    status: int,
    created: int,
    took: int | None = None,
    *,
    failure: Any = None,
    parent: str | None = None,
    app: str = "a",
) -> InstanceRow:
    terminal = status in pb.TERMINAL_STATUSES
    return InstanceRow(
        instance_id=instance_id,
        app_id=app,
        name=name,
        status=status,
        execution_id="e",
        created_at=created,
        updated_at=created,
        started_at=created + S,
        completed_at=created + S + (took or 0) if terminal else None,
        failure=failure.SerializeToString() if failure is not None else None,
        parent_instance_id=parent,
    )


def with_store(url: str, rows: list[InstanceRow], body: Any) -> Any:
    async def main() -> Any:
        store = open_store(url)
        try:

            def write(tx: Any) -> None:
                for r in rows:
                    tx.upsert_instance(r)

            await store.write(write)
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_statistics_per_name_over_a_window(store_url: str) -> None:
    t0 = 1_000_000 * S
    rows = [row(f"ok-{i}", "pay", pb.COMPLETED, t0 + i * S, took=(i + 1) * S) for i in range(20)]
    rows += [
        row("f1", "pay", pb.FAILED, t0 + 30 * S, S, failure=FAIL_A),
        row("f2", "pay", pb.FAILED, t0 + 31 * S, S, failure=FAIL_A_OTHER_STACK),
        row("f3", "pay", pb.FAILED, t0 + 32 * S, S, failure=FAIL_B),
        row("t1", "pay", pb.TERMINATED, t0 + 33 * S, S),
        row("r1", "pay", pb.RUNNING, t0 + 34 * S),
        row("ship-1", "ship", pb.RUNNING, t0 + 5 * S, app="b"),
        row("old", "pay", pb.COMPLETED, t0 - 600 * S, took=S),  # before the window
    ]

    async def body(store: Any) -> Any:
        return await Query(store).workflow_stats(t0, t0 + 60 * S, buckets=6)

    pay, ship = with_store(store_url, rows, body)
    assert pay.name == "pay" and ship.name == "ship"
    assert pay.counts == {"COMPLETED": 20, "FAILED": 3, "TERMINATED": 1, "RUNNING": 1}
    assert pay.created == 25
    # 10 s buckets: ok-0..9, ok-10..19, nothing, f1 f2 f3 t1 r1, nothing, nothing.
    assert pay.started == [10, 10, 0, 5, 0, 0]
    assert pay.per_minute == 25.0
    assert pay.finished == 24 and pay.failed == 3
    assert pay.failure_rate == 3 / 24
    # Nearest rank over the 20 completed runs lasting 1..20 s.
    assert pay.durations == {50: 10 * S, 95: 19 * S, 99: 20 * S}
    # Grouped in the store by the whole failure, shown by type and message.
    assert [(f.error_type, f.message, f.count) for f in pay.failures] == [
        ("ValueError", "card declined", 2),
        ("KeyError", "'sku'", 1),
    ]
    assert ship.counts == {"RUNNING": 1} and ship.durations == {} and ship.failure_rate is None

    async def one_app(store: Any) -> Any:
        return await Query(store).workflow_stats(t0, t0 + 60 * S, buckets=6, app_id="b")

    (only,) = with_store(store_url, [], one_app)
    assert only.name == "ship"


def test_percentiles_of_a_single_run(store_url: str) -> None:
    t0 = 5_000 * S

    async def body(store: Any) -> Any:
        return await Query(store).workflow_stats(t0, t0 + 60 * S)

    (stats,) = with_store(store_url, [row("x", "w", pb.COMPLETED, t0, took=2 * S)], body)
    assert stats.durations == {50: 2 * S, 95: 2 * S, 99: 2 * S}


def test_store_size_and_the_parent_child_filter(store_url: str) -> None:
    rows = [row("root", "w", pb.RUNNING, S), row("kid", "w", pb.RUNNING, 2 * S, parent="root")]

    async def body(store: Any) -> Any:
        query = Query(store)
        size = await query.store_size()
        roots = await query.instances(ListQuery(has_parent=False))
        children = await query.instances(ListQuery(has_parent=True))
        counted = await store.read(lambda tx: tx.count_instances(InstanceFilter(has_parent=True)))
        return size, roots, children, counted

    size, roots, children, counted = with_store(store_url, rows, body)
    assert size.instances == 2 and size.inbox == 0 and size.tasks == 0 and size.bytes > 0
    assert [v.instance_id for v in roots.instances] == ["root"]
    assert [v.instance_id for v in children.instances] == ["kid"]
    assert counted == {pb.RUNNING: 1}


def brute_force_stats(
    rows: list[InstanceRow], since: int, until: int, bucket_ns: int, app: str | None
) -> dict[str, NameStatsRow]:
    """What ``Reader.workflow_stats`` must return, computed from the rows one by one."""
    out: dict[str, NameStatsRow] = {}
    durations: dict[str, list[int]] = {}
    failures: dict[str, dict[bytes, int]] = {}
    for r in rows:
        if app is not None and r.app_id != app:
            continue
        if since <= r.created_at < until:
            s = out.setdefault(r.name, NameStatsRow(r.name))
            s.created[r.status] = s.created.get(r.status, 0) + 1
            bucket = (r.created_at - since) // bucket_ns
            s.started[bucket] = s.started.get(bucket, 0) + 1
        if r.completed_at is not None and since <= r.completed_at < until:
            s = out.setdefault(r.name, NameStatsRow(r.name))
            s.finished[r.status] = s.finished.get(r.status, 0) + 1
            if r.status == pb.COMPLETED:
                took = r.completed_at - (r.started_at if r.started_at is not None else r.created_at)
                durations.setdefault(r.name, []).append(took)
            if r.status == pb.FAILED and r.failure is not None:
                by = failures.setdefault(r.name, {})
                by[r.failure] = by.get(r.failure, 0) + 1
    for name, took in durations.items():
        took.sort()
        for p in PERCENTILES:
            out[name].durations[p] = took[-(-len(took) * p // 100) - 1]
    for name, by in failures.items():
        out[name].failures = sorted(by.items())
    return out


def random_rows(rng: random.Random, count: int, t0: int, span: int) -> list[InstanceRow]:
    failures = [FAIL_A.SerializeToString(), FAIL_B.SerializeToString()]
    out = []
    for i in range(count):
        status = rng.choice([pb.COMPLETED] * 6 + [pb.FAILED, pb.TERMINATED, pb.RUNNING])
        created = t0 + rng.randrange(span)
        # Few distinct durations, so that ranks fall on ties; some runs never started.
        took = rng.choice([0, 1, 2, 3, 5, 8, 13, 21]) * S if rng.random() < 0.5 else None
        took = took if took is not None else rng.randrange(60 * S)
        started = created + rng.randrange(S) if rng.random() < 0.9 else None
        terminal = status in pb.TERMINAL_STATUSES
        out.append(
            InstanceRow(
                instance_id=f"i-{i}",
                app_id=rng.choice("ab"),
                name=rng.choice(["pay", "ship", "<b>odd</b>", "z"]),
                status=status,
                execution_id="e",
                created_at=created,
                updated_at=created,
                started_at=started,
                completed_at=(started or created) + took if terminal else None,
                failure=rng.choice(failures) if status == pb.FAILED else None,
            )
        )
    return out


def test_statistics_equal_a_brute_force_computation(store_url: str) -> None:
    # Windows from a sliver of the stored span to all of it: the percentiles are read in index
    # order for wide windows and by sorting the window's runs for narrow ones; both are exact.
    rng = random.Random(12)
    t0, span = 10_000 * S, 10_000 * S
    rows = random_rows(rng, 3000, t0, span)
    windows = [(t0, t0 + 2 * span), (t0 + span // 4, t0 + span // 2)]
    windows += [(t0 + span // 2, t0 + span // 2 + span // 40), (t0 + 77 * S, t0 + 99 * S)]
    windows += [(t0 + rng.randrange(span), 0) for _ in range(6)]
    windows = [(a, b or a + rng.randrange(1, span // 3)) for a, b in windows]

    async def body(store: Any) -> Any:
        found = []
        for since, until in windows:
            for app in (None, "b"):
                bucket = max(1, -(-(until - since) // 30))

                def read(tx: Any, a: Any = (since, until, bucket, app)) -> Any:
                    return tx.workflow_stats(*a, PERCENTILES, 100)

                found.append(((since, until, bucket, app), await store.read(read)))
        return found

    for (since, until, bucket, app), got in with_store(store_url, rows, body):
        want = brute_force_stats(rows, since, until, bucket, app)
        for r in got:
            r.failures = sorted(r.failures)
        assert {r.name: r for r in got} == want, (since - t0, until - t0, app)
        assert [r.name for r in got] == sorted(want)


def test_a_version_3_sqlite_store_with_runs_is_migrated_and_counted(tmp_path: Path) -> None:
    # Migration 4 builds the statistics' indexes over the rows already stored.
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    prepare(conn, path, upto=3)
    rng = random.Random(4)
    t0, span = 50_000 * S, 1_000 * S
    rows = random_rows(rng, 300, t0, span)
    # Written at version 3 (a store object migrates the file when it opens it).
    for r in rows:
        conn.execute(
            "INSERT INTO instances (instance_id, app_id, name, status, execution_id,"
            " created_at, updated_at, started_at, completed_at, failure)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.instance_id,
                r.app_id,
                r.name,
                r.status,
                r.execution_id,
                r.created_at,
                r.updated_at,
                r.started_at,
                r.completed_at,
                r.failure,
            ),
        )
    conn.close()

    async def body(store: Any) -> Any:
        return await store.read(
            lambda tx: tx.workflow_stats(t0, t0 + 2 * span, span // 10, None, PERCENTILES, 100)
        )

    got = with_store(f"sqlite:///{path}", [], body)
    for r in got:
        r.failures = sorted(r.failures)
    assert {r.name: r for r in got} == brute_force_stats(rows, t0, t0 + 2 * span, span // 10, None)
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version.fetchone() == ("4",)
