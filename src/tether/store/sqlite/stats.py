"""Aggregate reads for the dashboard: per-name statistics and the store's size.

Nothing sorts the window's instances (SQLite sorts through a temporary B-tree, which cost more
than everything else together): the names come from a loose index scan (one seek each), every
count is the COUNT of an index range per name and status or time bucket, and a percentile of a
name's completed runs is the k-th of them in duration order that finished in the window, read
with ``LIMIT 1 OFFSET k - 1`` from ``instances_completed_duration`` (the scan reads index
entries only, and the table for the one row it returns). That scan passes over all of the name's
completed runs, not the window's only, so when the window covers less than an eighth of the time
over which they finished, their ranks come from sorting the window's runs instead. Both are exact.

The PostgreSQL backend answers the same reads with its own SQL (``store/postgres/stats.py``);
both are checked against each other by ``tests/dashboard/test_store_reads.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from tether import pb
from tether.store.base import NameStatsRow, StoreSize

_STATUSES = ",".join(f"({s})" for s in sorted(pb.STATUS_NAMES))
_TERMINAL = ",".join(str(s) for s in sorted(pb.TERMINAL_STATUSES))
# Every name once, by a loose scan of an index led by the name.
_NAMES = (
    "names(name) AS (SELECT MIN(name) FROM instances UNION ALL"
    " SELECT (SELECT MIN(name) FROM instances WHERE name > names.name)"
    " FROM names WHERE name IS NOT NULL)"
)
# As in instances_completed_duration, so that the index gives it; literal statuses, so that the
# partial indexes apply.
_DURATION = "completed_at - COALESCE(started_at, created_at)"
_COMPLETED = f"status = {pb.COMPLETED}"
_FINISHED = "completed_at >= :since AND completed_at < :until"
# Sort a name's runs in the window instead of scanning all of them in duration order when the
# window covers less than 1/_SORT_BELOW of the time over which they completed.
_SORT_BELOW = 8


def workflow_stats(
    c: sqlite3.Connection,
    since: int,
    until: int,
    bucket_ns: int,
    app_id: str | None,
    percentiles: Sequence[int],
    top_failures: int,
) -> list[NameStatsRow]:
    app = " AND app_id = :app" if app_id is not None else ""
    args: dict[str, Any] = {"since": since, "until": until, "app": app_id, "bucket": bucket_ns}
    stats: dict[str, NameStatsRow] = {}

    def of(name: str) -> NameStatsRow:
        row = stats.get(name)
        if row is None:
            row = stats[name] = NameStatsRow(name)
        return row

    # Each count names the NameStatsRow field it fills: created (per status), started (per
    # bucket), finished (per terminal status).
    for field, name, key, n in c.execute(
        f"WITH RECURSIVE {_NAMES}, statuses(status) AS (VALUES {_STATUSES}),"
        " buckets(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM buckets"
        "  WHERE :since + (i + 1) * :bucket < :until)"
        " SELECT 'created', name, status, (SELECT COUNT(*) FROM instances x"
        "  WHERE x.name = names.name AND x.status = statuses.status"
        f"  AND created_at >= :since AND created_at < :until{app})"
        " FROM names, statuses WHERE name IS NOT NULL"
        " UNION ALL SELECT 'started', name, i, (SELECT COUNT(*) FROM instances x"
        "  WHERE x.name = names.name AND created_at >= :since + i * :bucket"
        f"  AND created_at < MIN(:until, :since + (i + 1) * :bucket){app})"
        " FROM names, buckets WHERE name IS NOT NULL"
        " UNION ALL SELECT 'finished', name, status, (SELECT COUNT(*) FROM instances x"
        f"  WHERE x.name = names.name AND x.status = statuses.status AND {_FINISHED}{app})"
        f" FROM names, statuses WHERE name IS NOT NULL AND status IN ({_TERMINAL})",
        args,
    ):
        if n:
            getattr(of(name), field)[int(key)] = int(n)
    for name, row in stats.items():
        n = row.finished.get(pb.COMPLETED, 0)
        if n and percentiles:
            row.durations = _percentiles(c, name, n, percentiles, args, app)
    if top_failures > 0:
        for name, failure, n in c.execute(
            f"WITH RECURSIVE {_NAMES}"
            " SELECT name, failure, c FROM ("
            " SELECT i.name, i.failure, COUNT(*) AS c,"
            "  ROW_NUMBER() OVER (PARTITION BY i.name ORDER BY COUNT(*) DESC) AS rn"
            " FROM names JOIN instances i ON i.name = names.name"
            f" WHERE i.status = {pb.FAILED} AND i.failure IS NOT NULL AND {_FINISHED}{app}"
            " GROUP BY i.name, i.failure"
            ") grouped WHERE rn <= :top ORDER BY name, c DESC",
            {**args, "top": top_failures},
        ):
            of(name).failures.append((bytes(failure), int(n)))
    return [stats[name] for name in sorted(stats)]


def _percentiles(
    c: sqlite3.Connection,
    name: str,
    n: int,
    percentiles: Sequence[int],
    args: dict[str, Any],
    app: str,
) -> dict[int, int]:
    """Nearest rank: the ceil(p * n / 100)-th shortest of the name's ``n`` completed runs in
    the window."""
    args = {**args, "name": name}
    ranks = {int(p): (n * int(p) + 99) // 100 for p in percentiles}
    # When the name's completed runs finished (of every app: this only picks the plan).
    lo, hi = c.execute(
        f"SELECT (SELECT MIN(completed_at) FROM instances WHERE name = :name AND {_COMPLETED}"
        "  AND completed_at IS NOT NULL),"
        f" (SELECT MAX(completed_at) FROM instances WHERE name = :name AND {_COMPLETED}"
        "  AND completed_at IS NOT NULL)",
        args,
    ).fetchone()
    covered = min(int(hi) + 1, args["until"]) - max(int(lo), args["since"])
    if covered * _SORT_BELOW >= int(hi) + 1 - int(lo):
        found: dict[int, int] = {}
        for p, rank in ranks.items():
            (found[p],) = c.execute(
                f"SELECT {_DURATION} FROM instances INDEXED BY instances_completed_duration"
                f" WHERE name = :name AND {_COMPLETED} AND {_FINISHED}{app}"
                f" ORDER BY {_DURATION} LIMIT 1 OFFSET :skip",
                {**args, "skip": rank - 1},
            ).fetchone()
        return found
    wanted = sorted(set(ranks.values()))
    by_rank = dict(
        c.execute(
            f"SELECT rn, d FROM (SELECT {_DURATION} AS d, ROW_NUMBER() OVER (ORDER BY {_DURATION})"
            " AS rn FROM instances INDEXED BY instances_name_finished"
            f" WHERE name = :name AND {_COMPLETED} AND {_FINISHED}{app})"
            f" WHERE rn IN ({','.join(str(r) for r in wanted)})",
            args,
        )
    )
    return {p: int(by_rank[rank]) for p, rank in ranks.items()}


def store_size(c: sqlite3.Connection) -> StoreSize:
    pages = int(c.execute("PRAGMA page_count").fetchone()[0])
    page_size = int(c.execute("PRAGMA page_size").fetchone()[0])
    counts = [
        int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("instances", "inbox", "tasks")
    ]
    return StoreSize(pages * page_size, *counts)
