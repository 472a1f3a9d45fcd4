"""Aggregate reads for the dashboard: per-name statistics and the store's size.

The PostgreSQL backend answers the same reads with its own SQL (``store/postgres/stats.py``);
both are checked against each other by ``tests/dashboard/test_store_reads.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from tether import pb
from tether.store.base import NameStatsRow, StoreSize

_TERMINAL = tuple(sorted(pb.TERMINAL_STATUSES))


def _app(app_id: str | None) -> tuple[str, list[Any]]:
    return (" AND app_id = ?", [app_id]) if app_id is not None else ("", [])


def workflow_stats(
    c: sqlite3.Connection,
    since: int,
    until: int,
    bucket_ns: int,
    app_id: str | None,
    percentiles: Sequence[int],
    top_failures: int,
) -> list[NameStatsRow]:
    app_sql, app_args = _app(app_id)
    stats: dict[str, NameStatsRow] = {}

    def of(name: str) -> NameStatsRow:
        row = stats.get(name)
        if row is None:
            row = stats[name] = NameStatsRow(name)
        return row

    created = "created_at >= ? AND created_at < ?" + app_sql
    for name, status, bucket, n in c.execute(
        "SELECT name, status, (created_at - ?) / ? AS bucket, COUNT(*) FROM instances "
        f"WHERE {created} GROUP BY name, status, bucket",
        [since, bucket_ns, since, until, *app_args],
    ):
        row = of(name)
        row.created[int(status)] = row.created.get(int(status), 0) + int(n)
        row.started[int(bucket)] = row.started.get(int(bucket), 0) + int(n)
    finished = (
        f"status IN ({','.join('?' * len(_TERMINAL))}) "
        "AND completed_at >= ? AND completed_at < ?" + app_sql
    )
    for name, status, n in c.execute(
        f"SELECT name, status, COUNT(*) FROM instances WHERE {finished} GROUP BY name, status",
        [*_TERMINAL, since, until, *app_args],
    ):
        of(name).finished[int(status)] = int(n)
    # Nearest rank: the ceil(p * n / 100)-th shortest completed run. The counts are known from
    # the query above, so one ordered pass picks the ranks.
    wanted: dict[str, dict[int, list[int]]] = {}
    for name, row in stats.items():
        n = row.finished.get(pb.COMPLETED, 0)
        for p in percentiles if n else ():
            wanted.setdefault(name, {}).setdefault((n * int(p) + 99) // 100, []).append(int(p))
    ranks = sorted({r for by_rank in wanted.values() for r in by_rank})
    if ranks:
        window = "completed_at >= ? AND completed_at < ?" + app_sql
        for name, duration, rn in c.execute(
            "SELECT name, d, rn FROM ("
            " SELECT name, completed_at - COALESCE(started_at, created_at) AS d,"
            "  ROW_NUMBER() OVER (PARTITION BY name"
            "   ORDER BY completed_at - COALESCE(started_at, created_at)) AS rn"
            f" FROM instances WHERE status = ? AND {window}"
            f") ranked WHERE rn IN ({','.join('?' * len(ranks))})",
            [pb.COMPLETED, since, until, *app_args, *ranks],
        ):
            for p in wanted.get(name, {}).get(int(rn), []):
                of(name).durations[p] = int(duration)
    if top_failures > 0:
        window = "completed_at >= ? AND completed_at < ?" + app_sql
        for name, failure, n in c.execute(
            "SELECT name, failure, c FROM ("
            " SELECT name, failure, COUNT(*) AS c,"
            "  ROW_NUMBER() OVER (PARTITION BY name ORDER BY COUNT(*) DESC) AS rn"
            f" FROM instances WHERE status = ? AND failure IS NOT NULL AND {window}"
            " GROUP BY name, failure"
            ") grouped WHERE rn <= ? ORDER BY name, c DESC",
            [pb.FAILED, since, until, *app_args, top_failures],
        ):
            of(name).failures.append((bytes(failure), int(n)))
    return [stats[name] for name in sorted(stats)]


def store_size(c: sqlite3.Connection) -> StoreSize:
    pages = int(c.execute("PRAGMA page_count").fetchone()[0])
    page_size = int(c.execute("PRAGMA page_size").fetchone()[0])
    counts = [
        int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("instances", "inbox", "tasks")
    ]
    return StoreSize(pages * page_size, *counts)
