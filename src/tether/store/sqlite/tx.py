"""Reads and writes of the SQLite backend on one connection, and the store's clock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from tether.errors import LeaseLost
from tether.store.base import (
    CLAIMABLE,
    INBOX,
    INSTANCE,
    TASK,
    TERMINAL_STATUSES,
    InstanceFilter,
    InstanceRow,
    Lease,
    MessageRow,
    NameStatsRow,
    NodeRow,
    QueueStats,
    StoreSize,
    TaskRow,
)
from tether.store.rows import instance_row, message_row, task_row
from tether.store.sqlite import stats

_TERMINAL = tuple(sorted(TERMINAL_STATUSES))


class StoreClock:
    """The store's one clock, kept in the ``clock`` table and advanced by every writer.

    Lease expiry must be judged by one clock for all nodes, and SQLite has no server whose
    clock could be it: each process sharing the file reads its own wall clock, and a node whose
    wall clock runs an hour ahead would expire everyone's leases at once. So no wall clock takes
    part after the first: the table holds the clock's value, and a process estimates "now" as
    the last value it observed plus the time elapsed since, on its *monotonic* clock (which a
    wall-clock jump or an offset does not move). A write transaction stores the maximum of the
    table's value and that estimate. Every estimate is at most the clock's value when observed
    plus real elapsed time, so the clock never runs faster than real time (but for monotonic
    drift, which the nodes' safety margin covers) and never goes back; it may run slower while
    no node writes, which only delays takeovers. The very first value (empty table) is the
    creating process's wall clock, to keep the numbers readable; nothing depends on it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (clock value, monotonic ns when seen)

    def now(self, conn: sqlite3.Connection, *, advance: bool) -> int:
        row = conn.execute("SELECT now FROM clock WHERE id = 1").fetchone()
        mono = time.monotonic_ns()
        with self._lock:
            if row is None:
                value = time.time_ns()
            else:
                value = int(row[0])
                if self._seen is not None:
                    value = max(value, self._seen[0] + (mono - self._seen[1]))
            self._seen = (value, mono)
        if advance and (row is None or value > row[0]):
            conn.execute(
                "INSERT INTO clock (id, now) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET now = MAX(now, excluded.now)",
                (value,),
            )
        return value


_INSTANCE_COLUMNS = (
    "instance_id, app_id, name, status, execution_id, created_at, updated_at, started_at, "
    "completed_at, scheduled_start, input, output, custom_status, failure, parent_instance_id, "
    "parent, stall, version_name, tags, owner, epoch"
)


_UPSERT_INSTANCE = (
    f"INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES ({','.join('?' * 21)}) "
    "ON CONFLICT (instance_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in (x.strip() for x in _INSTANCE_COLUMNS.split(","))
        if c not in ("instance_id", "owner", "epoch")
    )
)


def _marks(n: int) -> str:
    return ",".join("?" * n)


_ORDER_COLUMNS = ("instance_id", "created_at", "updated_at")


def _instance_where(flt: InstanceFilter) -> tuple[list[str], list[Any]]:
    """The WHERE terms of an instance filter, without its cursor."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("app_id", flt.app_id),
        ("name", flt.name),
        ("parent_instance_id", flt.parent_instance_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if flt.has_parent is not None:
        where.append(f"parent_instance_id IS {'NOT ' if flt.has_parent else ''}NULL")
    if flt.statuses:
        where.append(f"status IN ({_marks(len(flt.statuses))})")
        args.extend(flt.statuses)
    for column, low, high in (
        ("created_at", flt.created_from, flt.created_to),
        ("updated_at", flt.updated_from, flt.updated_to),
    ):
        if low is not None:
            where.append(f"{column} >= ?")
            args.append(low)
        if high is not None:
            where.append(f"{column} < ?")
            args.append(high)
    if flt.id_prefix:
        # A range on the primary key (BINARY collation compares UTF-8 bytes): the index serves it.
        where.append("instance_id >= ? AND instance_id < ?")
        args.extend([flt.id_prefix, flt.id_prefix + "\U0010ffff"])
    return where, args


class SqliteTx:
    """Reads and writes on one connection; used inside the writer's transaction or for reads."""

    def __init__(self, conn: sqlite3.Connection, clock: StoreClock) -> None:
        self.c = conn
        self._clock = clock
        self._now: int | None = None
        self._write = False
        # Changes of the current job: (kind, app_id, instance_id), recorded at its commit.
        self.changes: set[tuple[str, str, str]] = set()
        # instance -> its status as this job's fence read it (see upsert_instance)
        self._fenced: dict[str, int] = {}

    def begin(self, write: bool) -> None:
        """A new transaction: "now" is read afresh, changes are collected from empty."""
        self._now = None
        self._write = write
        self.start_job()

    def start_job(self) -> None:
        """A job of a group commit: its changes, and the statuses its fences saw, are its own."""
        self.changes = set()
        self._fenced = {}

    def _changed(self, kind: str, app_id: str, instance_id: str) -> None:
        self.changes.add((kind, app_id, instance_id))

    def store_now(self) -> int:
        if self._now is None:
            self._now = self._clock.now(self.c, advance=self._write)
        return self._now

    # -- reads -------------------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> InstanceRow | None:
        row = self.c.execute(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return instance_row(row) if row else None

    def instance_route(self, instance_id: str) -> tuple[str, int, str] | None:
        row = self.c.execute(
            "SELECT app_id, status, execution_id FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def load_history(self, instance_id: str) -> list[bytes]:
        rows = self.c.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [r[0] for r in rows]

    def load_messages(self, instance_id: str) -> list[MessageRow]:
        rows = self.c.execute(
            "SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord "
            "FROM inbox WHERE instance_id = ? ORDER BY ord, msg_id",
            (instance_id,),
        )
        return [message_row(r) for r in rows]

    def load_tasks(self, instance_id: str) -> list[TaskRow]:
        rows = self.c.execute(
            "SELECT instance_id, task_id, execution_id, app_id, request, created_at, owner "
            "FROM tasks WHERE instance_id = ? ORDER BY task_id",
            (instance_id,),
        )
        return [task_row(r) for r in rows]

    def list_instances(self, flt: InstanceFilter) -> list[InstanceRow]:
        where, args = _instance_where(flt)
        if flt.order_by not in _ORDER_COLUMNS:
            raise ValueError(f"cannot order instances by {flt.order_by!r}")
        key = flt.order_by
        after = "<" if flt.descending else ">"
        if flt.after_id is not None and key == "instance_id":
            where.append(f"instance_id {after} ?")
            args.append(flt.after_id)
        elif flt.after_id is not None and flt.after_key is not None:
            where.append(f"({key}, instance_id) {after} (?, ?)")
            args.extend([flt.after_key, flt.after_id])
        sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = " DESC" if flt.descending else ""
        sql += f" ORDER BY {key}{direction}"
        if key != "instance_id":
            sql += f", instance_id{direction}"
        if flt.limit is not None:
            sql += " LIMIT ?"
            args.append(flt.limit)
        return [instance_row(r) for r in self.c.execute(sql, args)]

    def count_instances(self, flt: InstanceFilter) -> dict[int, int]:
        where, args = _instance_where(flt)
        sql = "SELECT status, COUNT(*) FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY status"
        return {int(status): int(n) for status, n in self.c.execute(sql, args)}

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]:
        sql = "SELECT instance_id FROM instances WHERE 1=1"
        args: list[Any] = []
        if app_id is not None:
            sql += " AND app_id = ?"
            args.append(app_id)
        if after is not None:
            sql += " AND instance_id > ?"
            args.append(after)
        sql += " ORDER BY instance_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [r[0] for r in self.c.execute(sql, args)]

    def list_timers(self, app_id: str | None) -> list[MessageRow]:
        sql = "SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord FROM inbox"
        args: list[Any] = []
        if app_id is not None:
            sql += " WHERE app_id = ?"
            args.append(app_id)
        sql += " ORDER BY visible_at, msg_id"
        return [message_row(r) for r in self.c.execute(sql, args)]

    def list_nodes(self) -> list[NodeRow]:
        rows = self.c.execute(
            "SELECT node_id, app_id, host, pid, grpc_port, http_port, started_at, heartbeat_at, "
            "lease_expires "
            "FROM nodes ORDER BY node_id"
        )
        return [NodeRow(*r) for r in rows]

    def queue_stats(self, now: int) -> QueueStats:
        instances = {
            (r[0], r[1]): r[2]
            for r in self.c.execute(
                "SELECT app_id, status, COUNT(*) FROM instances GROUP BY app_id, status"
            )
        }
        ready: dict[str, tuple[int, int]] = {}
        waiting: dict[str, int] = {}
        due: dict[str, int] = {}
        for app_id, n_ready, oldest, n_waiting, n_due in self.c.execute(
            "SELECT app_id, SUM(visible_at <= ?1), MIN(CASE WHEN visible_at <= ?1 THEN visible_at "
            "END), SUM(visible_at > ?1), SUM(visible_at > ord AND visible_at <= ?1) "
            "FROM inbox GROUP BY app_id",
            (now,),
        ):
            if n_ready:
                ready[app_id] = (n_ready, oldest)
            waiting[app_id], due[app_id] = n_waiting, n_due
        tasks = {
            r[0]: (r[1], r[2])
            for r in self.c.execute(
                "SELECT app_id, COUNT(*), MIN(created_at) FROM tasks GROUP BY app_id"
            )
        }
        return QueueStats(instances, ready, waiting, due, tasks)

    def workflow_stats(
        self,
        since: int,
        until: int,
        bucket_ns: int,
        app_id: str | None,
        percentiles: Sequence[int],
        top_failures: int,
    ) -> list[NameStatsRow]:
        return stats.workflow_stats(
            self.c, since, until, bucket_ns, app_id, percentiles, top_failures
        )

    def store_size(self) -> StoreSize:
        return stats.store_size(self.c)

    def check_integrity(self) -> list[str]:
        problems = [r[0] for r in self.c.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphans = self.c.execute(
            "SELECT COUNT(*) FROM history "
            "WHERE instance_id NOT IN (SELECT instance_id FROM instances)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} history rows without an instance")
        orphans = self.c.execute(
            "SELECT COUNT(*) FROM inbox "
            "WHERE instance_id NOT IN (SELECT instance_id FROM instances)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} inbox rows without an instance")
        gaps = self.c.execute(
            "SELECT instance_id FROM history GROUP BY instance_id "
            "HAVING MIN(seq) != 0 OR MAX(seq) != COUNT(*) - 1"
        ).fetchall()
        problems.extend(f"history of {g[0]!r} has gaps" for g in gaps)
        return problems

    # -- writes ------------------------------------------------------------------------------
    def fence(self, instance_id: str, owner: str, epoch: int) -> None:
        # Inside BEGIN IMMEDIATE no other connection writes until the commit, so a check at any
        # point conditions every write of the transaction.
        found = self.c.execute(
            "SELECT i.owner, i.epoch, n.lease_expires, i.status FROM instances i "
            "LEFT JOIN nodes n ON n.node_id = i.owner WHERE i.instance_id = ?",
            (instance_id,),
        ).fetchone()
        if found is None:
            raise LeaseLost(f"instance '{instance_id}' is gone (purged or replaced)")
        if found[0] != owner or found[1] != epoch:
            raise LeaseLost(
                f"instance '{instance_id}' is now owned by {found[0]!r} at epoch {found[1]}, "
                f"not by {owner!r} at epoch {epoch}"
            )
        if found[2] is None or found[2] <= self.store_now():
            raise LeaseLost(f"the lease of node {owner!r} on '{instance_id}' has expired")
        self._fenced[instance_id] = found[3]

    def upsert_instance(self, row: InstanceRow) -> None:
        # An UPSERT, not INSERT OR REPLACE: updating in place leaves untouched indexes alone,
        # where REPLACE deletes and re-inserts the row in every index on every turn.
        self.c.execute(
            _UPSERT_INSTANCE,
            (
                row.instance_id,
                row.app_id,
                row.name,
                row.status,
                row.execution_id,
                row.created_at,
                row.updated_at,
                row.started_at,
                row.completed_at,
                row.scheduled_start,
                row.input,
                row.output,
                row.custom_status,
                row.failure,
                row.parent_instance_id,
                row.parent,
                row.stall,
                row.version_name,
                json.dumps(row.tags) if row.tags else None,
                row.owner,
                row.epoch,
            ),
        )
        if self._fenced.get(row.instance_id) != row.status:
            self._changed(INSTANCE, row.app_id, row.instance_id)
        if row.instance_id in self._fenced:
            self._fenced[row.instance_id] = row.status
        if row.owner is None and row.status not in TERMINAL_STATUSES:
            self._changed(CLAIMABLE, row.app_id, row.instance_id)

    def delete_instance(self, instance_id: str) -> None:
        route = self.instance_route(instance_id)
        if route is not None:
            self._changed(INSTANCE, route[0], instance_id)
        for table in ("history", "inbox", "tasks", "instances"):
            self.c.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def append_history(self, instance_id: str, first_seq: int, events: Sequence[bytes]) -> None:
        if not events:
            return
        self.c.executemany(
            "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
            [(instance_id, first_seq + i, e) for i, e in enumerate(events)],
        )

    def clear_history(self, instance_id: str) -> None:
        self.c.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    def add_messages(self, rows: Sequence[MessageRow]) -> None:
        if not rows:
            return
        self.c.executemany(
            "INSERT INTO inbox (msg_id, instance_id, app_id, event, visible_at, execution_id, ord) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (r.msg_id, r.instance_id, r.app_id, r.event, r.visible_at, r.execution_id, r.order)
                for r in rows
            ],
        )
        for r in rows:
            self._changed(INBOX, r.app_id, r.instance_id)

    def delete_messages(self, msg_ids: Sequence[int]) -> None:
        for msg_id in msg_ids:
            gone = self.c.execute(
                "DELETE FROM inbox WHERE msg_id = ? RETURNING app_id, instance_id", (msg_id,)
            ).fetchone()
            if gone is not None:
                self._changed(INBOX, gone[0], gone[1])

    def clear_messages(self, instance_id: str, only_execution: str | None = None) -> None:
        route = self.instance_route(instance_id)
        if route is not None:
            self._changed(INBOX, route[0], instance_id)
        if only_execution is None:
            self.c.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        else:
            self.c.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND execution_id = ?",
                (instance_id, only_execution),
            )

    def add_tasks(self, rows: Sequence[TaskRow]) -> None:
        if not rows:
            return
        self.c.executemany(
            "INSERT OR REPLACE INTO tasks "
            "(instance_id, task_id, execution_id, app_id, request, created_at, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.instance_id,
                    r.task_id,
                    r.execution_id,
                    r.app_id,
                    r.request,
                    r.created_at,
                    r.owner,
                )
                for r in rows
            ],
        )
        for r in rows:
            if r.owner is None:  # only work nobody runs yet needs another node's attention
                self._changed(TASK, r.app_id, r.instance_id)

    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool:
        if execution_id is None:
            cur = self.c.execute(
                "DELETE FROM tasks WHERE instance_id = ? AND task_id = ?", (instance_id, task_id)
            )
        else:
            cur = self.c.execute(
                "DELETE FROM tasks WHERE instance_id = ? AND task_id = ? AND execution_id = ?",
                (instance_id, task_id, execution_id),
            )
        return cur.rowcount > 0

    def clear_tasks(self, instance_id: str) -> None:
        self.c.execute("DELETE FROM tasks WHERE instance_id = ?", (instance_id,))

    def _require_live(self, node_id: str) -> None:
        row = self.c.execute("SELECT lease_expires FROM nodes WHERE node_id = ?", (node_id,))
        found = row.fetchone()
        if found is None or found[0] <= self.store_now():
            raise LeaseLost(f"node {node_id!r} has no live lease; it must register anew")

    def _live_nodes(self, app_id: str) -> int:
        row = self.c.execute(
            "SELECT COUNT(*) FROM nodes WHERE app_id = ? AND lease_expires > ?",
            (app_id, self.store_now()),
        ).fetchone()
        return max(1, int(row[0]))

    def claim_instances(self, node_id: str, app_id: str, limit: int) -> list[Lease]:
        self._require_live(node_id)
        now = self.store_now()
        terminal = _marks(len(_TERMINAL))
        unowned = (
            "(owner IS NULL OR owner NOT IN (SELECT node_id FROM nodes WHERE lease_expires > ?))"
        )
        counts = self.c.execute(
            f"SELECT COUNT(*), COALESCE(SUM(owner = ?), 0), COALESCE(SUM({unowned}), 0) "
            f"FROM instances WHERE app_id = ? AND status NOT IN ({terminal})",
            (node_id, now, app_id, *_TERMINAL),
        ).fetchone()
        total, mine, claimable = int(counts[0]), int(counts[1]), int(counts[2])
        if not claimable:
            return []
        fair = -(-total // self._live_nodes(app_id))
        share = min(limit, claimable, fair - mine)
        if share <= 0:
            return []
        # RETURNING sees only the new owner: the previous ones are read first, in the same
        # write transaction (so no other claimer can come between).
        previous = dict(
            self.c.execute(
                f"SELECT instance_id, owner FROM instances WHERE app_id = ? "
                f"AND status NOT IN ({terminal}) AND {unowned} ORDER BY created_at LIMIT ?",
                (app_id, *_TERMINAL, now, share),
            ).fetchall()
        )
        rows = self.c.execute(
            f"UPDATE instances SET owner = ?, epoch = epoch + 1 "
            f"WHERE instance_id IN ({_marks(len(previous))}) RETURNING instance_id, epoch",
            (node_id, *previous),
        ).fetchall()
        return [Lease(r[0], node_id, r[1], previous[r[0]]) for r in rows]

    def claim_tasks(self, node_id: str, app_id: str, limit: int) -> list[TaskRow]:
        self._require_live(node_id)
        now = self.store_now()
        unowned = (
            "(owner IS NULL OR owner NOT IN (SELECT node_id FROM nodes WHERE lease_expires > ?))"
        )
        claimable = int(
            self.c.execute(
                f"SELECT COUNT(*) FROM tasks WHERE app_id = ? AND {unowned}", (app_id, now)
            ).fetchone()[0]
        )
        if not claimable:
            return []
        share = min(limit, -(-claimable // self._live_nodes(app_id)))
        rows = self.c.execute(
            "UPDATE tasks SET owner = ? WHERE (instance_id, task_id) IN ("
            f"SELECT instance_id, task_id FROM tasks WHERE app_id = ? AND {unowned} "
            "ORDER BY created_at LIMIT ?) "
            "RETURNING instance_id, task_id, execution_id, app_id, request, created_at, owner",
            (node_id, app_id, now, share),
        ).fetchall()
        return [task_row(r) for r in rows]

    def register_node(self, row: NodeRow, lease_ns: int) -> int:
        now = self.store_now()
        row.heartbeat_at = now
        row.lease_expires = now + lease_ns
        self.c.execute(
            "INSERT OR REPLACE INTO nodes (node_id, app_id, host, pid, grpc_port, http_port, "
            "started_at, heartbeat_at, lease_expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.node_id,
                row.app_id,
                row.host,
                row.pid,
                row.grpc_port,
                row.http_port,
                row.started_at,
                row.heartbeat_at,
                row.lease_expires,
            ),
        )
        return row.lease_expires

    def renew_node(self, node_id: str, lease_ns: int) -> int:
        now = self.store_now()
        found = self.c.execute(
            "UPDATE nodes SET heartbeat_at = ?, lease_expires = ? "
            "WHERE node_id = ? AND lease_expires > ? RETURNING lease_expires",
            (now, now + lease_ns, node_id, now),
        ).fetchone()
        if found is None:
            raise LeaseLost(f"the lease of node {node_id!r} expired before it was renewed")
        return int(found[0])

    def expire_node(self, node_id: str) -> None:
        self.c.execute("UPDATE nodes SET lease_expires = 0 WHERE node_id = ?", (node_id,))

    def delete_node(self, node_id: str) -> None:
        self.c.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))
