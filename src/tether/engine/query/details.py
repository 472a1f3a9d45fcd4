"""The rest of an instance's detail (timers, inbox, pending activities), per-name statistics
and nodes."""

from __future__ import annotations

from dataclasses import dataclass

from tether import pb
from tether.engine.query.history import TYPE_NAMES, HistoryEventView, event_fields
from tether.engine.query.instances import InstanceView
from tether.store.base import (
    MessageRow,
    NameStatsRow,
    NodeRow,
    TaskRow,
)


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
    fields = event_fields(kind, body) if body is not None else {}
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
