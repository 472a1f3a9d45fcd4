"""Aggregate reads for the dashboard on PostgreSQL: per-name statistics and the store's size.

Every figure is computed by the server from index ranges and index order, without sorting the
window's rows (``queries.sql`` says how); this module passes the percentiles' nearest ranks
(from the counts of completed runs) and folds the result rows into the contract's dataclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from tether import pb
from tether.store.base import NameStatsRow, StoreSize
from tether.store.postgres.queries import QUERIES as Q

_TERMINAL = sorted(pb.TERMINAL_STATUSES)
_STATUSES = sorted(pb.STATUS_NAMES)
# duration_percentiles and the partial index instances_completed_duration spell COMPLETED as 1.
assert pb.COMPLETED == 1


def workflow_stats(
    cur: psycopg.Cursor[Any],
    since: int,
    until: int,
    bucket_ns: int,
    app_id: str | None,
    percentiles: Sequence[int],
    top_failures: int,
) -> list[NameStatsRow]:
    window = {"since": since, "until": until, "app_id": app_id}
    stats: dict[str, NameStatsRow] = {}
    # name_counts' estimated cost passes jit_above_cost, and compiling it takes longer (hundreds
    # of ms) than running its index probes; only this read transaction is affected.
    cur.execute("SET LOCAL jit = off")

    def rows(name: str, **params: Any) -> list[Any]:
        cur.execute(Q[name], {**window, **params})
        return cur.fetchall()

    def of(name: str) -> NameStatsRow:
        row = stats.get(name)
        if row is None:
            row = stats[name] = NameStatsRow(name)
        return row

    counts = rows("name_counts", statuses=_STATUSES, bucket_ns=bucket_ns, terminal=_TERMINAL)
    for field, name, key, n in counts:
        if n:
            getattr(of(name), field)[key] = n
    # Nearest rank: the ceil(p * n / 100)-th shortest of a name's n completed runs.
    ranked = [
        (name, int(p), (n * int(p) + 99) // 100)
        for name, row in stats.items()
        if (n := row.finished.get(pb.COMPLETED, 0))
        for p in percentiles
    ]
    if ranked:
        names, ps, ranks = (list(column) for column in zip(*ranked, strict=True))
        for name, p, duration in rows(
            "duration_percentiles", names=names, percentiles=ps, ranks=ranks
        ):
            of(name).durations[p] = duration
    if top_failures > 0:
        for name, failure, n in rows("top_failures", failed=pb.FAILED, top=top_failures):
            of(name).failures.append((bytes(failure), n))
    return [stats[name] for name in sorted(stats)]


def store_size(cur: psycopg.Cursor[Any]) -> StoreSize:
    cur.execute(Q["store_size"])
    size, instances, inbox, tasks = cur.fetchone() or (0, 0, 0, 0)
    return StoreSize(size, instances, inbox, tasks)
