"""The read model: every view of workflow state the front doors show, built once.

The gRPC servicer, the HTTP API and the CLI (and the dashboard) all read instances, listings,
histories and timers through this module. It reads the store with :meth:`Store.read` and returns
typed, frozen dataclasses; turning them into JSON keys, table columns or protocol messages is the
business of each front door. Times are ns since the epoch; ``None`` where there is none yet.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core.events import from_timestamp
from tether.errors import InvalidArgument, NotFound
from tether.store.base import (
    InstanceFilter,
    InstanceRow,
    MessageRow,
    NameStatsRow,
    NodeRow,
    Reader,
    Store,
    StoreSize,
    TaskRow,
)

# Loaded dynamically: protobuf ships no type stubs (the same reason tether.pb re-exports Any).
_json_format: Any = importlib.import_module("google.protobuf.json_format")

SORT_KEYS = {"instance_id": "instance_id", "created": "created_at", "updated": "updated_at"}
PAYLOAD_FIELDS = ("input", "result")

Lookup = Callable[[str], Awaitable[InstanceRow | None]]


# -- instances ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FailureView:
    error_type: str
    message: str
    stack_trace: str | None = None
    non_retriable: bool = False
    cause: FailureView | None = None


@dataclass(frozen=True, slots=True)
class StallView:
    reason: str  # the StalledReason name, e.g. PAYLOAD_SIZE_EXCEEDED
    description: str | None


@dataclass(frozen=True, slots=True)
class InstanceView:
    instance_id: str
    app_id: str
    name: str
    status: int
    execution_id: str
    created_at: int | None  # None while the start is not committed (a scheduled start)
    updated_at: int | None
    started_at: int | None = None
    completed_at: int | None = None
    scheduled_start: int | None = None
    parent_instance_id: str | None = None
    parent_app_id: str | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: FailureView | None = None
    stall: StallView | None = None
    version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def status_name(self) -> str:
        """The full status name, STALLED included (``UNKNOWN`` for a status this build lacks)."""
        return pb.STATUS_NAMES.get(self.status, "UNKNOWN")

    @property
    def terminal(self) -> bool:
        return self.status in pb.TERMINAL_STATUSES


def failure_view(details: Any) -> FailureView:
    return FailureView(
        error_type=details.errorType,
        message=details.errorMessage,
        stack_trace=details.stackTrace.value if details.HasField("stackTrace") else None,
        non_retriable=details.isNonRetriable,
        cause=failure_view(details.innerFailure) if details.HasField("innerFailure") else None,
    )


def _enum_name(message: Any, field_name: str) -> str:
    number = getattr(message, field_name)
    value = message.DESCRIPTOR.fields_by_name[field_name].enum_type.values_by_number.get(number)
    return value.name if value is not None else str(number)


def instance_view(row: InstanceRow) -> InstanceView:
    parent_app = None
    if row.parent:
        info = pb.ParentInstanceInfo.FromString(row.parent)
        parent_app = info.appID if info.HasField("appID") and info.appID else None
    stall = None
    if row.stall:
        event = pb.ExecutionStalledEvent.FromString(row.stall)
        stall = StallView(
            reason=_enum_name(event, "reason"),
            description=event.description if event.HasField("description") else None,
        )
    return InstanceView(
        instance_id=row.instance_id,
        app_id=row.app_id,
        name=row.name,
        status=row.status,
        execution_id=row.execution_id,
        created_at=row.created_at or None,
        updated_at=row.updated_at or None,
        started_at=row.started_at or None,
        completed_at=row.completed_at or None,
        scheduled_start=row.scheduled_start or None,
        parent_instance_id=row.parent_instance_id,
        parent_app_id=parent_app,
        input=row.input,
        output=row.output,
        custom_status=row.custom_status,
        failure=failure_view(pb.TaskFailureDetails.FromString(row.failure))
        if row.failure
        else None,
        stall=stall,
        version=row.version_name,
        tags=dict(row.tags),
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Which instances a listing shows, in which order, from where (``cursor``), how many."""

    app_id: str | None = None  # None: every app
    statuses: tuple[int, ...] = ()
    name: str | None = None
    created_from: int | None = None  # inclusive
    created_to: int | None = None  # exclusive
    updated_from: int | None = None
    updated_to: int | None = None
    id_prefix: str | None = None
    parent_instance_id: str | None = None
    has_parent: bool | None = None  # True: child workflows only; False: top-level only
    sort: str = "instance_id"  # a key of SORT_KEYS
    descending: bool = False
    cursor: str | None = None  # a page's next_cursor
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class InstancePage:
    instances: list[InstanceView]
    next_cursor: str | None


def _store_filter(q: ListQuery) -> InstanceFilter:
    if q.sort not in SORT_KEYS:
        raise InvalidArgument(f"cannot sort by {q.sort!r}; use one of {', '.join(SORT_KEYS)}")
    flt = InstanceFilter(
        app_id=q.app_id,
        statuses=list(q.statuses) or None,
        name=q.name,
        created_from=q.created_from,
        created_to=q.created_to,
        updated_from=q.updated_from,
        updated_to=q.updated_to,
        id_prefix=q.id_prefix,
        parent_instance_id=q.parent_instance_id,
        has_parent=q.has_parent,
        order_by=SORT_KEYS[q.sort],
        descending=q.descending,
        limit=q.limit + 1 if q.limit else None,
    )
    if q.cursor:
        flt.after_id, flt.after_key = _parse_cursor(q.cursor, q.sort)
    return flt


def _cursor(row: InstanceRow, sort: str) -> str:
    # Ordered by ID the cursor is the last ID; by a time it is "<ns>:<ID>" (the ns are digits,
    # so the first colon separates them from any ID).
    if sort == "instance_id":
        return row.instance_id
    key = row.created_at if sort == "created" else row.updated_at
    return f"{key}:{row.instance_id}"


def _parse_cursor(cursor: str, sort: str) -> tuple[str, int | None]:
    if sort == "instance_id":
        return cursor, None
    key, sep, instance_id = cursor.partition(":")
    if not sep or not key.isdigit():
        raise InvalidArgument(
            f"cursor {cursor!r} does not belong to a listing sorted by {sort}: "
            "pass the nextCursor of the previous page with the same sort"
        )
    return instance_id, int(key)


# -- history -----------------------------------------------------------------------------------
TYPE_NAMES = {
    "executionStarted": "ExecutionStarted",
    "executionCompleted": "ExecutionCompleted",
    "executionTerminated": "ExecutionTerminated",
    "taskScheduled": "TaskScheduled",
    "taskCompleted": "TaskCompleted",
    "taskFailed": "TaskFailed",
    "childWorkflowInstanceCreated": "ChildWorkflowCreated",
    "childWorkflowInstanceCompleted": "ChildWorkflowCompleted",
    "childWorkflowInstanceFailed": "ChildWorkflowFailed",
    "timerCreated": "TimerCreated",
    "timerFired": "TimerFired",
    "workflowStarted": "WorkflowStarted",
    "workflowCompleted": "WorkflowCompleted",
    "eventSent": "EventSent",
    "eventRaised": "EventRaised",
    "continueAsNew": "ContinueAsNew",
    "executionSuspended": "ExecutionSuspended",
    "executionResumed": "ExecutionResumed",
    "executionStalled": "ExecutionStalled",
}
_STATUS_OF_KIND = {
    "taskFailed": "FAILED",
    "executionTerminated": "TERMINATED",
    "executionSuspended": "SUSPENDED",
    "executionResumed": "RESUMED",
    "executionStalled": "STALLED",
}


@dataclass(frozen=True, slots=True)
class HistoryEventView:
    event_id: int
    kind: str  # the protocol's event field, e.g. taskScheduled ("unknown" if this build lacks it)
    type: str  # the Dapr CLI's type name, e.g. TaskScheduled
    timestamp: int
    play: int  # how many workflowStarted events so far: which replay the event belongs to
    elapsed: int | None  # ns since the previous event in this order; None for the first
    status: str  # the instance status this event stands for (RUNNING for most)
    name: str | None = None
    input: str | None = None
    result: str | None = None
    payload_size: int = 0  # UTF-8 bytes of input and result
    failure: FailureView | None = None
    scheduled_id: int | None = None  # the taskScheduled/child event a result answers
    fire_at: int | None = None
    timer_id: int | None = None
    timer_origin: tuple[str, tuple[str, ...]] | None = None  # (kind, field values)
    rerun_parent: str | None = None
    parent_instance_id: str | None = None
    target_instance_id: str | None = None  # eventSent's receiver
    child_instance_id: str | None = None  # childWorkflowInstanceCreated's child
    completed_status: int | None = None  # executionCompleted's status
    execution_id: str | None = None
    router_source: str | None = None
    router_target: str | None = None
    version_name: str | None = None
    version_patches: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # every field, protobuf JSON names


@dataclass(frozen=True, slots=True)
class HistoryView:
    instance_id: str
    app_id: str
    events: list[HistoryEventView]


def _has(body: Any, name: str) -> bool:
    return name in body.DESCRIPTOR.fields_by_name


def _set(body: Any, name: str) -> bool:
    return _has(body, name) and body.HasField(name)


def _event_fields(kind: str, body: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if _has(body, "name") and isinstance(body.name, str) and body.name:
        out["name"] = body.name
    size = 0
    for key in PAYLOAD_FIELDS:
        if _set(body, key):
            value = getattr(body, key).value
            out[key] = value
            size += len(value.encode("utf-8"))
    out["payload_size"] = size
    if _set(body, "failureDetails"):
        out["failure"] = failure_view(body.failureDetails)
    if _has(body, "taskScheduledId"):
        out["scheduled_id"] = body.taskScheduledId
    if kind in ("timerCreated", "timerFired"):
        out["fire_at"] = from_timestamp(body.fireAt)
    if kind == "timerFired":
        out["timer_id"] = body.timerId
    if kind == "timerCreated" and (which := body.WhichOneof("origin")) is not None:
        origin = getattr(body, which)
        out["timer_origin"] = (
            which,
            tuple(str(getattr(origin, f.name)) for f in origin.DESCRIPTOR.fields),
        )
    if _set(body, "rerunParentInstanceInfo"):
        out["rerun_parent"] = body.rerunParentInstanceInfo.instanceID
    if kind == "executionStarted":
        if body.HasField("parentInstance") and body.parentInstance.workflowInstance.instanceId:
            out["parent_instance_id"] = body.parentInstance.workflowInstance.instanceId
        if body.HasField("workflowInstance"):
            out["execution_id"] = body.workflowInstance.executionId.value
        out["tags"] = dict(body.tags)
    if kind == "eventSent":
        out["target_instance_id"] = body.instanceId
    if kind == "childWorkflowInstanceCreated":
        out["child_instance_id"] = body.instanceId
    if kind == "executionCompleted":
        out["completed_status"] = body.workflowStatus
    if _has(body, "taskExecutionId"):
        out["execution_id"] = body.taskExecutionId
    if kind == "workflowStarted" and body.HasField("version"):
        out["version_name"] = body.version.name or None
        out["version_patches"] = tuple(body.version.patches)
    return out


def _status(kind: str, completed_status: int | None) -> str:
    if completed_status is not None:
        return pb.STATUS_NAMES.get(completed_status, "UNKNOWN")
    return _STATUS_OF_KIND.get(kind, "RUNNING")


def _ts(event: Any) -> int:
    return int(event.timestamp.seconds) * 1_000_000_000 + int(event.timestamp.nanos)


def _compare(a: Any, b: Any) -> int:
    if a.eventId > 0 and b.eventId > 0:
        return -1 if a.eventId < b.eventId else (1 if a.eventId > b.eventId else 0)
    ta, tb = _ts(a), _ts(b)
    if ta != tb:
        return -1 if ta < tb else 1
    return -1 if a.eventId < b.eventId else (1 if a.eventId > b.eventId else 0)


def history_views(
    raw: list[bytes] | list[Any], *, dapr_order: bool = False, details: bool = True
) -> list[HistoryEventView]:
    """Views of history events (serialized or parsed), in stored order or, with ``dapr_order``,
    in the Dapr CLI's (by event ID where both have one, else by time). ``details=False`` leaves
    out the every-field dict (the costliest part, for views that do not show it)."""
    events = [pb.HistoryEvent.FromString(e) if isinstance(e, bytes) else e for e in raw]
    if dapr_order:
        events = sorted(events, key=functools.cmp_to_key(_compare))
    views: list[HistoryEventView] = []
    play = 0
    previous: int | None = None
    for event in events:
        kind = event.WhichOneof("eventType")
        ts = _ts(event)
        elapsed = None if previous is None else ts - previous
        previous = ts
        if kind is None:
            views.append(
                HistoryEventView(event.eventId, "unknown", "Unknown", ts, play, elapsed, "RUNNING")
            )
            continue
        if kind == "workflowStarted":
            play += 1
        body = getattr(event, kind)
        fields = _event_fields(kind, body)
        router = event.router if event.HasField("router") else None
        views.append(
            HistoryEventView(
                event_id=event.eventId,
                kind=kind,
                type=TYPE_NAMES.get(kind, "Unknown"),
                timestamp=ts,
                play=play,
                elapsed=elapsed,
                status=_status(kind, fields.get("completed_status")),
                router_source=router.sourceAppID if router is not None else None,
                router_target=(
                    router.targetAppID
                    if router is not None and router.HasField("targetAppID")
                    else None
                ),
                details=_json_format.MessageToDict(body) if details else {},
                **fields,
            )
        )
    return views


# -- timers ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TimerView:
    """A pending workflow reminder: a durable timer or a scheduled start (an inbox row)."""

    name: str  # workflow/<app>/<instance>/timer-<id> or …/start-<due ns>
    kind: str  # "timer" or "start"
    app_id: str
    instance_id: str
    due_at: int
    timer_id: int | None
    execution_id: str | None
    msg_id: int
    order: int
    event: bytes  # the serialized inbox event (what an export carries)


def timer_name(row: MessageRow) -> str | None:
    """The reminder name of an inbox row, or None when the row is not a reminder."""
    try:
        event = pb.HistoryEvent.FromString(row.event)
    except Exception:  # a row written by a newer tether: not ours to show
        return None
    base = f"workflow/{row.app_id}/{row.instance_id}"
    if event.HasField("timerFired"):
        return f"{base}/timer-{event.timerFired.timerId}"
    if event.HasField("executionStarted") and event.executionStarted.HasField(
        "scheduledStartTimestamp"
    ):
        return f"{base}/start-{row.visible_at}"
    return None


def timer_view(row: MessageRow) -> TimerView | None:
    name = timer_name(row)
    if name is None:
        return None
    event = pb.HistoryEvent.FromString(row.event)
    timer = event.HasField("timerFired")
    return TimerView(
        name=name,
        kind="timer" if timer else "start",
        app_id=row.app_id,
        instance_id=row.instance_id,
        due_at=row.visible_at,
        timer_id=event.timerFired.timerId if timer else None,
        execution_id=row.execution_id,
        msg_id=row.msg_id,
        order=row.order,
        event=row.event,
    )


def timers_of(rows: list[MessageRow]) -> list[TimerView]:
    views = [v for r in rows if (v := timer_view(r)) is not None]
    return sorted(views, key=lambda v: (v.due_at, v.name))


def name_matches(name: str, prefix: str) -> bool:
    """Whether a reminder name falls under a prefix (``all`` matches everything)."""
    prefix = prefix.rstrip("/")
    return prefix == "all" or name == prefix or name.startswith(prefix + "/")


# -- one instance in full -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InboxView:
    """A message waiting in an instance's inbox, not yet consumed by a turn."""

    msg_id: int
    kind: str  # the event field, e.g. eventRaised
    type: str
    name: str | None
    payload: str | None
    visible_at: int
    order: int


@dataclass(frozen=True, slots=True)
class TaskView:
    """An activity scheduled and not yet answered: a task row."""

    task_id: int
    name: str
    app_id: str  # the app whose workers run it
    execution_id: str
    created_at: int
    node: str | None  # the node (tether process) that holds it
    input: str | None


@dataclass(frozen=True, slots=True)
class InstanceDetail:
    instance: InstanceView
    history: list[HistoryEventView]
    inbox: list[InboxView]  # buffered events (timers and scheduled starts are in ``timers``)
    timers: list[TimerView]
    tasks: list[TaskView]
    ancestors: list[InstanceView]  # the root first, the direct parent last
    children: list[InstanceView]
    grandchildren: dict[str, list[InstanceView]]  # child id -> its children


MAX_TREE_ANCESTORS = 20
MAX_CHILDREN = 200


def inbox_view(row: MessageRow) -> InboxView | None:
    try:
        event = pb.HistoryEvent.FromString(row.event)
    except Exception:  # a row written by a newer tether
        return None
    kind = event.WhichOneof("eventType") or "unknown"
    body = getattr(event, kind) if kind != "unknown" else None
    fields = _event_fields(kind, body) if body is not None else {}
    payload = fields.get("input", fields.get("result"))
    return InboxView(
        msg_id=row.msg_id,
        kind=kind,
        type=TYPE_NAMES.get(kind, "Unknown"),
        name=fields.get("name"),
        payload=payload,
        visible_at=row.visible_at,
        order=row.order,
    )


def task_view(row: TaskRow) -> TaskView:
    request = pb.ActivityRequest.FromString(row.request)
    return TaskView(
        task_id=row.task_id,
        name=request.name,
        app_id=row.app_id,
        execution_id=row.execution_id,
        created_at=row.created_at,
        node=row.owner,
        input=request.input.value if request.HasField("input") else None,
    )


# -- workflows by name -------------------------------------------------------------------------
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class FailureCount:
    error_type: str
    message: str
    count: int


@dataclass(frozen=True, slots=True)
class NameStatsView:
    name: str
    counts: dict[str, int]  # status name -> instances created in the window
    started: list[int]  # instances created per bucket, oldest first
    bucket_ns: int
    finished: int  # runs that reached a terminal status in the window
    failed: int
    durations: dict[int, int]  # percentile -> ns, over COMPLETED runs finished in the window
    failures: list[FailureCount]

    @property
    def created(self) -> int:
        return sum(self.counts.values())

    @property
    def per_minute(self) -> float:
        minutes = len(self.started) * self.bucket_ns / 60e9
        return self.created / minutes if minutes else 0.0

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


def name_stats_view(row: NameStatsRow, buckets: int, bucket_ns: int) -> NameStatsView:
    merged: dict[tuple[str, str], int] = {}
    for raw, n in row.failures:
        # Grouped by the whole failure (stack included); shown by type and message.
        details = pb.TaskFailureDetails.FromString(raw)
        key = (details.errorType, details.errorMessage)
        merged[key] = merged.get(key, 0) + n
    failures = [FailureCount(t, m, n) for (t, m), n in merged.items()]
    failures.sort(key=lambda f: (-f.count, f.error_type, f.message))
    return NameStatsView(
        name=row.name,
        counts={
            name: row.created.get(status, 0)
            for status, name in pb.STATUS_NAMES.items()
            if row.created.get(status)
        },
        started=[row.started.get(i, 0) for i in range(buckets)],
        bucket_ns=bucket_ns,
        finished=sum(row.finished.values()),
        failed=row.finished.get(pb.FAILED, 0),
        durations=dict(row.durations),
        failures=failures,
    )



@dataclass(frozen=True, slots=True)
class NodeView:
    """A registered node and its lease, judged by the store's clock."""

    row: NodeRow
    live: bool
    lease_left_ns: int  # until the lease expires; negative once it has

# -- the queries -------------------------------------------------------------------------------
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
        flt = _store_filter(q)
        rows = await self.store.read(lambda tx: tx.list_instances(flt))
        next_cursor = None
        if q.limit and len(rows) > q.limit:
            rows = rows[: q.limit]
            next_cursor = _cursor(rows[-1], q.sort)
        return InstancePage([instance_view(r) for r in rows], next_cursor)

    async def counts(self, q: ListQuery) -> dict[str, int]:
        """How many instances match per status name (every status listed, zeros included)."""
        flt = _store_filter(q)
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
