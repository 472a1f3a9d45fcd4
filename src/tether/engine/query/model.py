"""The queries: every read of workflow state, built into views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tether import pb
from tether.engine.query.details import (
    MAX_CHILDREN,
    MAX_TREE_ANCESTORS,
    PERCENTILES,
    InstanceDetail,
    NameStatsView,
    NodeView,
    TimerView,
    inbox_view,
    name_stats_view,
    task_view,
    timers_of,
)
from tether.engine.query.history import HistoryView, history_views
from tether.engine.query.instances import (
    InstancePage,
    InstanceView,
    ListQuery,
    cursor_of,
    instance_view,
    store_filter,
)
from tether.errors import InvalidArgument, NotFound
from tether.store.base import (
    InstanceFilter,
    InstanceRow,
    NodeRow,
    Reader,
    Store,
    StoreSize,
)

# -- the queries -------------------------------------------------------------------------------
Lookup = Callable[[str], Awaitable[InstanceRow | None]]


class Query:
    """Reads over one store. ``lookup`` answers single-instance reads when given (a running
    engine passes its memory-aware ``get_instance``, equal to what is committed)."""

    def __init__(self, store: Store, lookup: Lookup | None = None) -> None:
        self.store = store
        self._lookup = lookup

    async def row(self, instance_id: str) -> InstanceRow | None:
        if self._lookup is not None:
            return await self._lookup(instance_id)
        return await self.store.read(lambda tx: tx.get_instance(instance_id), keyed=True)

    async def instance(self, instance_id: str) -> InstanceView | None:
        row = await self.row(instance_id)
        return instance_view(row) if row is not None else None

    async def instances(self, q: ListQuery) -> InstancePage:
        flt = store_filter(q)
        rows = await self.store.read(lambda tx: tx.list_instances(flt))
        next_cursor = None
        if q.limit and len(rows) > q.limit:
            rows = rows[: q.limit]
            next_cursor = cursor_of(rows[-1], q.sort)
        return InstancePage([instance_view(r) for r in rows], next_cursor)

    async def counts(self, q: ListQuery) -> dict[str, int]:
        """How many instances match per status name (every status listed, zeros included)."""
        flt = store_filter(q)
        by_status = await self.store.read(lambda tx: tx.count_instances(flt))
        return {name: by_status.get(status, 0) for status, name in pb.STATUS_NAMES.items()}

    async def instance_ids(
        self, app_id: str | None, after: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        limit = page_size + 1 if page_size else None
        ids = await self.store.read(lambda tx: tx.list_instance_ids(app_id, after, limit))
        if page_size and len(ids) > page_size:
            ids = ids[:page_size]
            return ids, ids[-1]
        return ids, None

    async def raw_history(self, instance_id: str) -> list[bytes]:
        """The stored events, serialized; NotFound for an unknown instance."""

        def read(tx: Reader) -> list[bytes] | None:
            if tx.get_instance(instance_id) is None:
                return None
            return tx.load_history(instance_id)

        events = await self.store.read(read)
        if events is None:
            raise NotFound(f"workflow instance '{instance_id}' not found")
        return events

    async def history(self, instance_id: str, *, dapr_order: bool = False) -> HistoryView:
        def read(tx: Reader) -> tuple[InstanceRow | None, list[bytes]]:
            row = tx.get_instance(instance_id)
            return row, tx.load_history(instance_id) if row is not None else []

        row, raw = await self.store.read(read)
        if row is None:
            raise NotFound(f"workflow instance '{instance_id}' not found")
        return HistoryView(instance_id, row.app_id, history_views(raw, dapr_order=dapr_order))

    async def timers(self, app_id: str | None = None) -> list[TimerView]:
        """Pending reminders (of one app, or all), earliest first."""
        rows = await self.store.read(lambda tx: tx.list_timers(app_id))
        return timers_of(rows)

    async def detail(self, instance_id: str) -> InstanceDetail | None:
        """Everything about one instance, read in one snapshot (its row from the engine's
        memory when there is one)."""
        row = await self.row(instance_id)
        if row is None:
            return None

        def read(tx: Reader) -> tuple[Any, ...]:
            ancestors: list[InstanceRow] = []
            parent = row.parent_instance_id
            while parent and len(ancestors) < MAX_TREE_ANCESTORS:
                found = tx.get_instance(parent)
                if found is None:
                    break
                ancestors.insert(0, found)
                parent = found.parent_instance_id
            children = tx.list_instances(
                InstanceFilter(parent_instance_id=instance_id, limit=MAX_CHILDREN)
            )
            grand = {
                c.instance_id: tx.list_instances(
                    InstanceFilter(parent_instance_id=c.instance_id, limit=MAX_CHILDREN)
                )
                for c in children
            }
            return (
                tx.load_history(instance_id),
                tx.load_messages(instance_id),
                tx.load_tasks(instance_id),
                ancestors,
                children,
                grand,
            )

        raw, messages, tasks, ancestors, children, grand = await self.store.read(read)
        reminders = timers_of(messages)
        reminder_ids = {t.msg_id for t in reminders}
        return InstanceDetail(
            instance=instance_view(row),
            history=history_views(raw, details=False),
            inbox=[
                v
                for m in messages
                if m.msg_id not in reminder_ids
                if (v := inbox_view(m)) is not None
            ],
            timers=reminders,
            tasks=[task_view(t) for t in tasks],
            ancestors=[instance_view(a) for a in ancestors],
            children=[instance_view(c) for c in children],
            grandchildren={k: [instance_view(g) for g in v] for k, v in grand.items() if v},
        )

    async def workflow_stats(
        self, since: int, until: int, *, buckets: int = 30, app_id: str | None = None
    ) -> list[NameStatsView]:
        """Per workflow name over ``[since, until)``, computed by the store."""
        if until <= since:
            raise InvalidArgument("the statistics window must end after it starts")
        bucket_ns = max(1, -(-(until - since) // buckets))
        rows = await self.store.read(
            lambda tx: tx.workflow_stats(since, until, bucket_ns, app_id, PERCENTILES, 20)
        )
        return [name_stats_view(r, buckets, bucket_ns) for r in rows]

    async def nodes(self) -> list[NodeView]:
        """Every registered node, with whether its lease is live by the store's clock."""

        def read(tx: Reader) -> tuple[list[NodeRow], int]:
            return tx.list_nodes(), tx.store_now()

        rows, now = await self.store.read(read)
        return [NodeView(row, row.lease_expires > now, row.lease_expires - now) for row in rows]

    async def store_size(self) -> StoreSize:
        return await self.store.read(lambda tx: tx.store_size())
