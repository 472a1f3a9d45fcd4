"""Reads and writes of one transaction on one PostgreSQL connection (the ``Tx`` of base.py).

A write also records what it changed (kind, app, instance), which the store announces with
``NOTIFY`` just before the commit, so other nodes learn which instances changed.

The store's clock is the server's (``clock_timestamp()``): one clock for every node, whatever
their own say. Within one store object it never goes back (a value below one already seen is
raised to it); across processes it is as monotonic as the server's clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

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
from tether.store.postgres import stats
from tether.store.postgres.queries import QUERIES as Q
from tether.store.rows import instance_row as _instance
from tether.store.rows import message_row as _message
from tether.store.rows import task_row as _task

_TERMINAL = sorted(TERMINAL_STATUSES)

_FILTER = sql.SQL(Q["instance_filter"])
_COUNT = sql.SQL(Q["count_instances"]).format(filter=_FILTER)


def _listing(key: str, descending: bool) -> sql.Composed:
    query = "list_instances_by_id" if key == "instance_id" else "list_instances_by_time"
    return sql.SQL(Q[query]).format(
        filter=_FILTER,
        key=sql.Identifier(key),
        after=sql.SQL("<" if descending else ">"),
        direction=sql.SQL("DESC" if descending else "ASC"),
    )


# Every listing order (InstanceFilter.order_by) and direction, composed once.
_LISTINGS = {
    (key, desc): _listing(key, desc)
    for key in ("instance_id", "created_at", "updated_at")
    for desc in (False, True)
}


def _filter_params(flt: InstanceFilter) -> dict[str, Any]:
    return {
        "app_id": flt.app_id,
        "name": flt.name,
        "parent_instance_id": flt.parent_instance_id,
        "has_parent": flt.has_parent,
        "statuses": list(flt.statuses) if flt.statuses else None,
        "created_from": flt.created_from,
        "created_to": flt.created_to,
        "updated_from": flt.updated_from,
        "updated_to": flt.updated_to,
        # The largest code point bounds every ID that starts with the prefix.
        "id_from": flt.id_prefix or None,
        "id_to": flt.id_prefix + "\U0010ffff" if flt.id_prefix else None,
    }


class StoreClock:
    """The server's clock as seen by one store object, held from ever going back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def observe(self, server_ns: int) -> int:
        with self._lock:
            self._last = max(self._last, int(server_ns))
            return self._last


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any], clock: StoreClock) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        self._clock = clock
        self._now: int | None = None
        self.changes: set[tuple[str, str, str]] = set()  # (kind, app_id, instance_id)
        # instance -> its status as this transaction's fence read it (see upsert_instance)
        self._fenced: dict[str, int] = {}

    def _rows(self, name: str, /, **params: Any) -> list[Any]:
        self.cur.execute(Q[name], params)
        return self.cur.fetchall()

    def _one(self, name: str, /, **params: Any) -> Any:
        self.cur.execute(Q[name], params)
        return self.cur.fetchone()

    def _run(self, name: str, /, **params: Any) -> None:
        # No result is read back: in pipeline mode (see store.py) the statement goes out without
        # waiting for its reply (its error, if any, is raised at the next read or the commit).
        self.cur.execute(Q[name], params)

    def _changed(self, kind: str, app_id: str, instance_id: str) -> None:
        self.changes.add((kind, app_id, instance_id))

    def _saw_clock(self, server_ns: int) -> int:
        if self._now is None:
            self._now = self._clock.observe(server_ns)
        return self._now

    # -- reads -------------------------------------------------------------------------------
    def store_now(self) -> int:
        if self._now is None:
            self._saw_clock(self._one("store_now")[0])
        assert self._now is not None
        return self._now

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        row = self._one("get_instance", instance_id=instance_id)
        return _instance(row) if row else None

    def instance_route(self, instance_id: str) -> tuple[str, int, str] | None:
        row = self._one("instance_route", instance_id=instance_id)
        return (row[0], row[1], row[2]) if row else None

    def load_history(self, instance_id: str) -> list[bytes]:
        return [r[0] for r in self._rows("load_history", instance_id=instance_id)]

    def load_messages(self, instance_id: str) -> list[MessageRow]:
        return [_message(r) for r in self._rows("load_messages", instance_id=instance_id)]

    def load_tasks(self, instance_id: str) -> list[TaskRow]:
        return [_task(r) for r in self._rows("load_tasks", instance_id=instance_id)]

    def list_instances(self, flt: InstanceFilter) -> list[InstanceRow]:
        query = _LISTINGS.get((flt.order_by, flt.descending))
        if query is None:
            raise ValueError(f"cannot order instances by {flt.order_by!r}")
        params = _filter_params(flt)
        params.update(after_id=flt.after_id, after_key=flt.after_key, limit=flt.limit)
        self.cur.execute(query, params)
        return [_instance(r) for r in self.cur.fetchall()]

    def count_instances(self, flt: InstanceFilter) -> dict[int, int]:
        self.cur.execute(_COUNT, _filter_params(flt))
        return {status: n for status, n in self.cur.fetchall()}

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]:
        rows = self._rows("list_instance_ids", app_id=app_id, after_id=after, limit=limit)
        return [r[0] for r in rows]

    def list_timers(self, app_id: str | None) -> list[MessageRow]:
        return [_message(r) for r in self._rows("list_timers", app_id=app_id)]

    def list_nodes(self) -> list[NodeRow]:
        return [NodeRow(*r) for r in self._rows("list_nodes")]

    def check_integrity(self) -> list[str]:
        problems: list[str] = []
        orphans = self._one("orphan_history")[0]
        if orphans:
            problems.append(f"{orphans} history rows without an instance")
        orphans = self._one("orphan_inbox")[0]
        if orphans:
            problems.append(f"{orphans} inbox rows without an instance")
        problems.extend(f"history of {r[0]!r} has gaps" for r in self._rows("history_gaps"))
        return problems

    def queue_stats(self, now: int) -> QueueStats:
        instances = {(a, st): n for a, st, n in self._rows("instances_per_status")}
        ready: dict[str, tuple[int, int]] = {}
        waiting: dict[str, int] = {}
        due: dict[str, int] = {}
        for app_id, n_ready, oldest, n_waiting, n_due in self._rows("inbox_per_app", now=now):
            if n_ready:
                ready[app_id] = (n_ready, oldest)
            waiting[app_id], due[app_id] = n_waiting, n_due
        tasks = {a: (n, oldest) for a, n, oldest in self._rows("tasks_per_app")}
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
            self.cur, since, until, bucket_ns, app_id, percentiles, top_failures
        )

    def store_size(self) -> StoreSize:
        return stats.store_size(self.cur)

    # -- writes ------------------------------------------------------------------------------
    def upsert_instance(self, row: InstanceRow) -> None:
        self._run(
            "upsert_instance",
            instance_id=row.instance_id,
            app_id=row.app_id,
            name=row.name,
            status=row.status,
            execution_id=row.execution_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            scheduled_start=row.scheduled_start,
            input=row.input,
            output=row.output,
            custom_status=row.custom_status,
            failure=row.failure,
            parent_instance_id=row.parent_instance_id,
            parent=row.parent,
            stall=row.stall,
            version_name=row.version_name,
            tags=json.dumps(row.tags) if row.tags else None,
            owner=row.owner,
            epoch=row.epoch,
        )
        if self._fenced.get(row.instance_id) != row.status:
            self._changed(INSTANCE, row.app_id, row.instance_id)
        if row.instance_id in self._fenced:
            self._fenced[row.instance_id] = row.status
        if row.owner is None and row.status not in TERMINAL_STATUSES:
            self._changed(CLAIMABLE, row.app_id, row.instance_id)

    def delete_instance(self, instance_id: str) -> None:
        route = self.instance_route(instance_id)
        self._run("delete_instance", instance_id=instance_id)
        if route is not None:
            self._changed(INSTANCE, route[0], instance_id)

    def append_history(self, instance_id: str, first_seq: int, events: Sequence[bytes]) -> None:
        if events:
            self._run(
                "append_history", instance_id=instance_id, first_seq=first_seq, events=list(events)
            )

    def clear_history(self, instance_id: str) -> None:
        self._run("clear_history", instance_id=instance_id)

    def add_messages(self, rows: Sequence[MessageRow]) -> None:
        if not rows:
            return
        self._run(
            "add_messages",
            msg_ids=[r.msg_id for r in rows],
            instance_ids=[r.instance_id for r in rows],
            app_ids=[r.app_id for r in rows],
            events=[r.event for r in rows],
            visible_ats=[r.visible_at for r in rows],
            execution_ids=[r.execution_id for r in rows],
            ords=[r.order for r in rows],
        )
        for r in rows:
            self._changed(INBOX, r.app_id, r.instance_id)

    def delete_messages(self, msg_ids: Sequence[int]) -> None:
        if msg_ids:
            for app_id, instance_id in self._rows("delete_messages", msg_ids=list(msg_ids)):
                self._changed(INBOX, app_id, instance_id)

    def clear_messages(self, instance_id: str, only_execution: str | None = None) -> None:
        route = self.instance_route(instance_id)
        if route is not None:
            self._changed(INBOX, route[0], instance_id)
        self._run("clear_messages", instance_id=instance_id, execution_id=only_execution)

    def add_tasks(self, rows: Sequence[TaskRow]) -> None:
        if not rows:
            return
        self._run(
            "add_tasks",
            instance_ids=[r.instance_id for r in rows],
            task_ids=[r.task_id for r in rows],
            execution_ids=[r.execution_id for r in rows],
            app_ids=[r.app_id for r in rows],
            requests=[r.request for r in rows],
            created_ats=[r.created_at for r in rows],
            owners=[r.owner for r in rows],
        )
        for r in rows:
            if r.owner is None:  # only work nobody runs yet needs another node's attention
                self._changed(TASK, r.app_id, r.instance_id)

    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool:
        taken = self._rows(
            "take_task", instance_id=instance_id, execution_id=execution_id, task_id=task_id
        )
        return bool(taken)

    def clear_tasks(self, instance_id: str) -> None:
        self._run("clear_tasks", instance_id=instance_id)

    def fence(self, instance_id: str, owner: str, epoch: int) -> None:
        found = self._one("fence", instance_id=instance_id)
        if found is None:
            raise LeaseLost(f"instance '{instance_id}' is gone (purged or replaced)")
        now = self._saw_clock(found[3])
        if found[0] != owner or found[1] != epoch:
            raise LeaseLost(
                f"instance '{instance_id}' is now owned by {found[0]!r} at epoch {found[1]}, "
                f"not by {owner!r} at epoch {epoch}"
            )
        if found[2] is None or found[2] <= now:
            raise LeaseLost(f"the lease of node {owner!r} on '{instance_id}' has expired")
        self._fenced[instance_id] = found[4]

    def _require_live(self, node_id: str) -> int:
        expires, server_now = self._one("node_lease", node_id=node_id)
        now = self._saw_clock(server_now)
        if expires is None or expires <= now:
            raise LeaseLost(f"node {node_id!r} has no live lease; it must register anew")
        return now

    def claim_instances(self, node_id: str, app_id: str, limit: int) -> list[Lease]:
        now = self._require_live(node_id)
        rows = self._rows(
            "claim_instances",
            node_id=node_id,
            app_id=app_id,
            terminal=_TERMINAL,
            now=now,
            limit=limit,
        )
        return [Lease(r[0], node_id, r[1], r[2]) for r in rows]

    def claim_tasks(self, node_id: str, app_id: str, limit: int) -> list[TaskRow]:
        now = self._require_live(node_id)
        rows = self._rows("claim_tasks", node_id=node_id, app_id=app_id, now=now, limit=limit)
        return [_task(r) for r in rows]

    def register_node(self, row: NodeRow, lease_ns: int) -> int:
        now = self.store_now()
        row.heartbeat_at = now
        row.lease_expires = now + lease_ns
        self._run(
            "register_node",
            node_id=row.node_id,
            app_id=row.app_id,
            host=row.host,
            pid=row.pid,
            grpc_port=row.grpc_port,
            http_port=row.http_port,
            started_at=row.started_at,
            now=now,
            lease_ns=lease_ns,
        )
        return row.lease_expires

    def renew_node(self, node_id: str, lease_ns: int) -> int:
        found = self._one("renew_node", node_id=node_id, now=self.store_now(), lease_ns=lease_ns)
        if found is None:
            raise LeaseLost(f"the lease of node {node_id!r} expired before it was renewed")
        return int(found[0])

    def expire_node(self, node_id: str) -> None:
        self._run("expire_node", node_id=node_id)

    def delete_node(self, node_id: str) -> None:
        self._run("delete_node", node_id=node_id)
