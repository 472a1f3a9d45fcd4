"""``workflow history``: history events as the Dapr CLI shows them (§7 of the semantics notes)."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether import pb
from tether.cli.durations import from_ns, human_elapsed, rfc3339

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

SHORT_COLUMNS = ["TYPE", "NAME", "EVENTID", "ELAPSED", "STATUS", "DETAILS"]
WIDE_COLUMNS = [
    "NAMESPACE",
    "APP ID",
    "PLAY",
    "TYPE",
    "NAME",
    "EVENTID",
    "TIMESTAMP",
    "ELAPSED",
    "STATUS",
    "DETAILS",
    "ROUTER",
    "EXECUTION_ID",
    "ATTRS",
]


@dataclass
class HistoryRow:
    namespace: str
    app_id: str
    play: int
    type: str
    name: str
    event_id: int | None
    timestamp: datetime | None
    elapsed: str
    status: str
    details: str
    router: str
    execution_id: str
    attrs: list[tuple[str, str]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The machine-format row, with the Dapr CLI's keys; absent values omitted."""
        out: dict[str, Any] = {}
        if self.namespace:
            out["namespace"] = self.namespace
        out["appID"] = self.app_id
        out["play"] = self.play
        out["type"] = self.type
        if self.name:
            out["name"] = self.name
        out["eventId"] = self.event_id
        out["timestamp"] = rfc3339(self.timestamp) if self.timestamp else None
        if self.elapsed:
            out["elapsed"] = self.elapsed
        out["status"] = self.status
        if self.details:
            out["details"] = self.details
        if self.router:
            out["router"] = self.router
        if self.execution_id:
            out["executionId"] = self.execution_id
        if self.attrs:
            out["attrs"] = ";".join(f"{k}={v}" for k, v in self.attrs)
        return out

    def cells(self, wide: bool) -> list[str]:
        dash = "" if wide else "-"
        event_id = "" if self.event_id is None else str(self.event_id)
        short = [
            self.type,
            self.name or dash,
            event_id or dash,
            self.elapsed or dash,
            self.status,
            self.details or dash,
        ]
        if not wide:
            return short
        return [
            self.namespace,
            self.app_id,
            str(self.play),
            self.type,
            self.name,
            event_id,
            rfc3339(self.timestamp, seconds_only=True) if self.timestamp else "",
            self.elapsed,
            self.status,
            self.details,
            self.router,
            self.execution_id,
            ";".join(f"{k}={v}" for k, v in self.attrs),
        ]


def _ts_ns(event: Any) -> int:
    ts = event.timestamp
    return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)


def _compare(a: Any, b: Any) -> int:
    if a.eventId > 0 and b.eventId > 0:
        return -1 if a.eventId < b.eventId else (1 if a.eventId > b.eventId else 0)
    ta, tb = _ts_ns(a), _ts_ns(b)
    if ta != tb:
        return -1 if ta < tb else 1
    return -1 if a.eventId < b.eventId else (1 if a.eventId > b.eventId else 0)


def sort_events(events: list[Any]) -> list[Any]:
    return sorted(events, key=functools.cmp_to_key(_compare))


def _payload(value: Any, limit: int = 120) -> str:
    """A payload for ATTRS: JSON strings unquoted, trimmed."""
    text = str(value)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, str):
        text = decoded
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(kind: str, body: Any) -> str:
    if kind in (
        "taskScheduled",
        "childWorkflowInstanceCreated",
        "eventRaised",
        "eventSent",
        "executionStarted",
    ):
        return str(body.name)
    if kind == "timerCreated" and body.HasField("name"):
        return str(body.name)
    return ""


def _origin(body: Any) -> str:
    which = body.WhichOneof("origin")
    if which is None:
        return ""
    origin = getattr(body, which)
    values = [str(getattr(origin, f.name)) for f in origin.DESCRIPTOR.fields]
    return f"{which}({','.join(values)})"


def _status(kind: str, body: Any) -> str:
    if kind == "taskFailed":
        return "FAILED"
    if kind == "executionCompleted":
        return pb.STATUS_NAMES.get(body.workflowStatus, "UNKNOWN")
    return {
        "executionTerminated": "TERMINATED",
        "executionSuspended": "SUSPENDED",
        "executionResumed": "RESUMED",
        "executionStalled": "STALLED",
    }.get(kind, "RUNNING")


def _details(kind: str, body: Any, first_ns: int, ts: int) -> str:
    parts: list[str] = []
    rerun = ""
    if kind in ("taskScheduled", "childWorkflowInstanceCreated", "timerCreated") and body.HasField(
        "rerunParentInstanceInfo"
    ):
        rerun = f"rerunParent={body.rerunParentInstanceInfo.instanceID}"
    if kind == "timerCreated":
        parts.append(f"fireAt={rfc3339(from_ns(_ts_ns_of(body.fireAt)))}")
        if rerun:
            parts.append(rerun)
        if origin := _origin(body):
            parts.append(f"origin={origin}")
    elif rerun:
        parts.append(rerun)
    elif kind == "eventRaised":
        parts.append(f"event={body.name}")
    elif kind == "eventSent":
        parts.append(f"event={body.name}->{body.instanceId}")
    elif kind == "executionStarted":
        parts.append("workflowStart")
        if body.HasField("parentInstance") and body.parentInstance.workflowInstance.instanceId:
            parts.append(f"parent={body.parentInstance.workflowInstance.instanceId}")
    elif kind == "workflowStarted":
        parts.append("replay")
    elif kind in ("taskCompleted", "childWorkflowInstanceCompleted"):
        parts.append(f"eventId={body.taskScheduledId}")
    elif kind == "executionCompleted":
        parts.append(f"execDuration={human_elapsed(ts - first_ns) or '0s'}")
    return ",".join(parts)


def _ts_ns_of(ts: Any) -> int:
    return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)


def _attrs(kind: str, body: Any) -> list[tuple[str, str]]:
    attrs: list[tuple[str, str]] = []
    for key in ("input", "result"):
        if body.DESCRIPTOR.fields_by_name.get(key) and body.HasField(key):
            label = "input" if key == "input" else "output"
            attrs.append((label, _payload(getattr(body, key).value)))
    if kind == "executionTerminated" and body.HasField("input"):
        attrs = [("output", _payload(body.input.value))]
    if "taskScheduledId" in body.DESCRIPTOR.fields_by_name:
        attrs.append(("scheduledId", str(body.taskScheduledId)))
    if "failureDetails" in body.DESCRIPTOR.fields_by_name and body.HasField("failureDetails"):
        failure = body.failureDetails
        attrs.append(("errorType", failure.errorType))
        attrs.append(("errorMsg", _payload(failure.errorMessage, 160)))
        if failure.isNonRetriable:
            attrs.append(("nonRetriable", "true"))
    if kind == "timerCreated":
        attrs.append(("fireAt", rfc3339(from_ns(_ts_ns_of(body.fireAt)))))
        if origin := _origin(body):
            attrs.append(("origin", origin))
    if kind == "timerFired":
        attrs.append(("fireAt", rfc3339(from_ns(_ts_ns_of(body.fireAt)))))
        attrs.append(("timerId", str(body.timerId)))
    if kind == "workflowStarted" and body.HasField("version"):
        if body.version.name:
            attrs.append(("versionName", body.version.name))
        if body.version.patches:
            attrs.append(("versionPatches", ",".join(body.version.patches)))
    if kind == "executionStarted" and body.tags:
        attrs.append(("tags", ",".join(f"{k}:{v}" for k, v in sorted(body.tags.items()))))
    return attrs


def _execution_id(kind: str, body: Any) -> str:
    if kind == "executionStarted" and body.HasField("workflowInstance"):
        return str(body.workflowInstance.executionId.value)
    if "taskExecutionId" in body.DESCRIPTOR.fields_by_name:
        return str(body.taskExecutionId)
    return ""


def _router(event: Any) -> str:
    if not event.HasField("router"):
        return ""
    router = event.router
    src = router.sourceAppID
    if router.HasField("targetAppID") and router.targetAppID and router.targetAppID != src:
        return f"{src}->{router.targetAppID}"
    return str(src)


def history_rows(
    events: list[Any], app_id: str, namespace: str = "", now_ns: int | None = None
) -> list[HistoryRow]:
    now_ns = now_ns if now_ns is not None else time.time_ns()
    ordered = sort_events(events)
    rows: list[HistoryRow] = []
    play = 0
    first_ns = _ts_ns(ordered[0]) if ordered else 0
    previous: int | None = None
    for event in ordered:
        kind = event.WhichOneof("eventType") or ""
        body = getattr(event, kind) if kind else pb.HistoryEvent()
        if kind == "workflowStarted":
            play += 1
        ts = _ts_ns(event)
        if previous is None:
            elapsed = "Age:" + (human_elapsed(now_ns - ts) or "0s")
        else:
            elapsed = human_elapsed(ts - previous)
        previous = ts
        shows_zero = kind in ("taskScheduled", "timerCreated")
        shown = event.eventId > 0 or (shows_zero and event.eventId == 0)
        event_id = event.eventId if shown else None
        rows.append(
            HistoryRow(
                namespace=namespace,
                app_id=app_id,
                play=play,
                type=TYPE_NAMES.get(kind, "Unknown"),
                name=_name(kind, body) if kind else "",
                event_id=event_id,
                timestamp=from_ns(ts) if ts else None,
                elapsed=elapsed,
                status=_status(kind, body),
                details=_details(kind, body, first_ns, ts) if kind else "",
                router=_router(event),
                execution_id=_execution_id(kind, body) if kind else "",
                attrs=_attrs(kind, body) if kind else [],
            )
        )
    return rows
