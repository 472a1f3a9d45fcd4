"""Reads and writes of one transaction on one PostgreSQL connection (the ``Tx`` of base.py).

A write also records what it changed (kind, app, instance), which the store announces with
``NOTIFY`` just before the commit, so other nodes learn which instances changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from tether import pb
from tether.store.base import InstanceFilter, InstanceRow, MessageRow, NodeRow, TaskRow
from tether.store.postgres.queries import QUERIES as Q

_TERMINAL = sorted(pb.TERMINAL_STATUSES)

# Change kinds (as the change feed names them).
INSTANCE = "instance"
INBOX = "inbox"
TASK = "task"
NODE = "node"

Change = tuple[str, str, str]  # (kind, app_id, instance_id)


def _instance(row: Sequence[Any]) -> InstanceRow:
    return InstanceRow(
        instance_id=row[0],
        app_id=row[1],
        name=row[2],
        status=row[3],
        execution_id=row[4],
        created_at=row[5],
        updated_at=row[6],
        started_at=row[7],
        completed_at=row[8],
        scheduled_start=row[9],
        input=row[10],
        output=row[11],
        custom_status=row[12],
        failure=row[13],
        parent_instance_id=row[14],
        parent=row[15],
        stall=row[16],
        version_name=row[17],
        tags=json.loads(row[18]) if row[18] else {},
        owner=row[19],
    )


def _message(row: Sequence[Any]) -> MessageRow:
    return MessageRow(
        msg_id=row[0],
        instance_id=row[1],
        app_id=row[2],
        event=row[3],
        visible_at=row[4],
        execution_id=row[5],
        order=row[6],
    )


def _task(row: Sequence[Any]) -> TaskRow:
    return TaskRow(
        instance_id=row[0],
        task_id=row[1],
        execution_id=row[2],
        app_id=row[3],
        request=row[4],
        created_at=row[5],
        owner=row[6],
    )


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        self.changes: dict[Change, None] = {}  # ordered and deduplicated

    def _rows(self, name: str, /, **params: Any) -> list[Any]:
        self.cur.execute(Q[name], params)
        return self.cur.fetchall()

    def _one(self, name: str, /, **params: Any) -> Any:
        self.cur.execute(Q[name], params)
        return self.cur.fetchone()

    def _run(self, name: str, /, **params: Any) -> int:
        self.cur.execute(Q[name], params)
        return self.cur.rowcount

    def _changed(self, kind: str, app_id: str, instance_id: str) -> None:
        self.changes[(kind, app_id, instance_id)] = None

    # -- reads -------------------------------------------------------------------------------
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
        rows = self._rows(
            "list_instances",
            app_id=flt.app_id,
            statuses=list(flt.statuses) if flt.statuses else None,
            name=flt.name,
            created_from=flt.created_from,
            created_to=flt.created_to,
            parent_instance_id=flt.parent_instance_id,
            after_id=flt.after_id,
            limit=flt.limit,
        )
        return [_instance(r) for r in rows]

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]:
        rows = self._rows("list_instance_ids", app_id=app_id, after_id=after, limit=limit)
        return [r[0] for r in rows]

    def list_timers(self, app_id: str | None) -> list[MessageRow]:
        return [_message(r) for r in self._rows("list_timers", app_id=app_id)]

    def list_nodes(self) -> list[NodeRow]:
        return [NodeRow(*r) for r in self._rows("list_nodes")]

    def inbox_index(self, app_id: str) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self._rows("inbox_index", app_id=app_id)]

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
        )
        self._changed(INSTANCE, row.app_id, row.instance_id)

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
        rows = self._rows("clear_messages", instance_id=instance_id, execution_id=only_execution)
        for app_id, _ in rows[:1]:
            self._changed(INBOX, app_id, instance_id)

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
            self._changed(TASK, r.app_id, r.instance_id)

    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool:
        taken = self._run(
            "take_task", instance_id=instance_id, execution_id=execution_id, task_id=task_id
        )
        return taken > 0

    def clear_tasks(self, instance_id: str) -> None:
        self._run("clear_tasks", instance_id=instance_id)

    def claim_instances(self, node_id: str, app_id: str, live_nodes: Sequence[str]) -> list[str]:
        rows = self._rows(
            "claim_instances",
            node_id=node_id,
            app_id=app_id,
            terminal=_TERMINAL,
            live=list(live_nodes),
        )
        return [r[0] for r in rows]

    def claim_instance(self, instance_id: str, node_id: str, live_nodes: Sequence[str]) -> bool:
        claimed = self._run(
            "claim_instance", instance_id=instance_id, node_id=node_id, live=list(live_nodes)
        )
        return claimed > 0

    def claim_tasks(self, node_id: str, app_id: str, live_nodes: Sequence[str]) -> list[TaskRow]:
        rows = self._rows("claim_tasks", node_id=node_id, app_id=app_id, live=list(live_nodes))
        return [_task(r) for r in rows]

    def upsert_node(self, row: NodeRow) -> None:
        self._run(
            "upsert_node",
            node_id=row.node_id,
            app_id=row.app_id,
            host=row.host,
            pid=row.pid,
            grpc_port=row.grpc_port,
            http_port=row.http_port,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
        )

    def delete_node(self, node_id: str) -> None:
        self._run("delete_node", node_id=node_id)
        self._changed(NODE, "", node_id)
