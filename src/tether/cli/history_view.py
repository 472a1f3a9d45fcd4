"""``workflow history``: the read model's history events as the Dapr CLI shows them (§7 of the
semantics notes): its columns, DETAILS and ATTRS."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether.cli.durations import from_ns, human_elapsed, rfc3339
from tether.engine.query import HistoryEventView

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


_NAMED = (
    "taskScheduled",
    "childWorkflowInstanceCreated",
    "eventRaised",
    "eventSent",
    "executionStarted",
    "timerCreated",
)


def _time(ns: int | None) -> str:
    return rfc3339(from_ns(ns)) if ns is not None else ""


def _origin(e: HistoryEventView) -> str:
    if e.timer_origin is None:
        return ""
    kind, values = e.timer_origin
    return f"{kind}({','.join(values)})"


def _details(e: HistoryEventView, first_ns: int) -> str:
    parts: list[str] = []
    rerun = f"rerunParent={e.rerun_parent}" if e.rerun_parent is not None else ""
    if e.kind == "timerCreated":
        parts.append(f"fireAt={_time(e.fire_at)}")
        if rerun:
            parts.append(rerun)
        if origin := _origin(e):
            parts.append(f"origin={origin}")
    elif rerun:
        parts.append(rerun)
    elif e.kind == "eventRaised":
        parts.append(f"event={e.name or ''}")
    elif e.kind == "eventSent":
        parts.append(f"event={e.name or ''}->{e.target_instance_id or ''}")
    elif e.kind == "executionStarted":
        parts.append("workflowStart")
        if e.parent_instance_id:
            parts.append(f"parent={e.parent_instance_id}")
    elif e.kind == "workflowStarted":
        parts.append("replay")
    elif e.kind in ("taskCompleted", "childWorkflowInstanceCompleted"):
        parts.append(f"eventId={e.scheduled_id}")
    elif e.kind == "executionCompleted":
        parts.append(f"execDuration={human_elapsed(e.timestamp - first_ns) or '0s'}")
    return ",".join(parts)


def _attrs(e: HistoryEventView) -> list[tuple[str, str]]:
    attrs: list[tuple[str, str]] = []
    if e.input is not None:
        attrs.append(("output" if e.kind == "executionTerminated" else "input", _payload(e.input)))
    if e.result is not None:
        attrs.append(("output", _payload(e.result)))
    if e.scheduled_id is not None:
        attrs.append(("scheduledId", str(e.scheduled_id)))
    if e.failure is not None:
        attrs.append(("errorType", e.failure.error_type))
        attrs.append(("errorMsg", _payload(e.failure.message, 160)))
        if e.failure.non_retriable:
            attrs.append(("nonRetriable", "true"))
    if e.kind == "timerCreated":
        attrs.append(("fireAt", _time(e.fire_at)))
        if origin := _origin(e):
            attrs.append(("origin", origin))
    if e.kind == "timerFired":
        attrs.append(("fireAt", _time(e.fire_at)))
        attrs.append(("timerId", str(e.timer_id)))
    if e.version_name:
        attrs.append(("versionName", e.version_name))
    if e.version_patches:
        attrs.append(("versionPatches", ",".join(e.version_patches)))
    if e.kind == "executionStarted" and e.tags:
        attrs.append(("tags", ",".join(f"{k}:{v}" for k, v in sorted(e.tags.items()))))
    return attrs


def _router(e: HistoryEventView) -> str:
    if e.router_source is None:
        return ""
    src = e.router_source
    if e.router_target and e.router_target != src:
        return f"{src}->{e.router_target}"
    return src


def history_rows(
    events: list[HistoryEventView], app_id: str, namespace: str = "", now_ns: int | None = None
) -> list[HistoryRow]:
    """Table rows of events already in the Dapr CLI's order (``history_views(dapr_order=True)``)."""
    now_ns = now_ns if now_ns is not None else time.time_ns()
    first_ns = events[0].timestamp if events else 0
    rows: list[HistoryRow] = []
    for e in events:
        if e.elapsed is None:
            elapsed = "Age:" + (human_elapsed(now_ns - e.timestamp) or "0s")
        else:
            elapsed = human_elapsed(e.elapsed)
        shows_zero = e.kind in ("taskScheduled", "timerCreated")
        shown = e.event_id > 0 or (shows_zero and e.event_id == 0)
        known = e.kind != "unknown"
        rows.append(
            HistoryRow(
                namespace=namespace,
                app_id=app_id,
                play=e.play,
                type=e.type,
                name=(e.name or "") if e.kind in _NAMED else "",
                event_id=e.event_id if shown else None,
                timestamp=from_ns(e.timestamp) if e.timestamp else None,
                elapsed=elapsed,
                status=e.status,
                details=_details(e, first_ns) if known else "",
                router=_router(e),
                execution_id=(e.execution_id or "") if known else "",
                attrs=_attrs(e) if known else [],
            )
        )
    return rows
