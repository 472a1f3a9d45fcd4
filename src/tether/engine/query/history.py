"""Views of a history: one typed view per event, in stored or in Dapr's order."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core.events import from_timestamp
from tether.engine.query.instances import PAYLOAD_FIELDS, FailureView, failure_view

# Loaded dynamically: protobuf ships no type stubs (the same reason tether.pb re-exports Any).
_json_format: Any = importlib.import_module("google.protobuf.json_format")

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


def event_fields(kind: str, body: Any) -> dict[str, Any]:
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
        fields = event_fields(kind, body)
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
