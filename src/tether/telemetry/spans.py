"""The spans of one workflow execution, built from its history (pure: no OpenTelemetry, no I/O).

Built once, when the execution ends (terminal status or continue-as-new), from the events the store
holds. Timestamps of history events give start and end; ids come from :mod:`context`, so building
the same history again (after a restart) yields the same spans.

* the execution: ``executionStarted`` to ``executionCompleted`` (or the continue-as-new commit);
* an activity attempt: ``taskScheduled`` to ``taskCompleted``/``taskFailed`` (each retry is its
  own ``taskScheduled``, hence its own span; ``workflow.activity.attempt`` counts them);
* a child workflow: ``childWorkflowInstanceCreated`` to its completion event (the child's own
  execution span hangs under this one);
* a timer: ``timerCreated`` to ``timerFired``;
* an external-event wait: from the moment the workflow waited (its wait timer's creation, or the
  end of the turn before the event arrived) to the ``eventRaised`` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core.events import from_timestamp
from tether.telemetry.context import ExecutionTrace, execution_trace, find_started, span_id

Attributes = dict[str, str | int | bool]

# Events that resolve a span opened by an earlier event: (span kind, whether it failed).
_RESOLVES = {
    "taskCompleted": ("activity", False),
    "taskFailed": ("activity", True),
    "childWorkflowInstanceCompleted": ("child", False),
    "childWorkflowInstanceFailed": ("child", True),
}


@dataclass(slots=True)
class SpanRecord:
    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None  # the failure message; None for success
    links: list[tuple[int, int]] = field(default_factory=list)  # (trace id, span id)
    sampled: bool = True


@dataclass(slots=True)
class _Open:
    name: str
    kind: str
    start: int
    attributes: Attributes


def build_spans(
    history: list[Any], app_id: str, rate: float, end_ns: int, status: int
) -> list[SpanRecord]:
    """Every span of the execution whose history is ``history`` (empty when it is not sampled).

    ``end_ns`` and ``status`` close the execution when the history has no ``executionCompleted``
    (a continue-as-new drops its last turn's events).
    """
    started = find_started(history)
    if started is None:
        return []
    trace = execution_trace(started, rate)
    if not trace.sampled:
        return []
    info = started.executionStarted
    instance_id = info.workflowInstance.instanceId
    execution_id = info.workflowInstance.executionId.value
    base: Attributes = {"workflow.instance_id": instance_id, "workflow.app_id": app_id}
    builder = _Builder(trace, instance_id, execution_id, base)
    start = from_timestamp(started.timestamp)
    end, error = end_ns, None
    for event in history:
        builder.add(event)
        if event.HasField("executionCompleted"):
            done = event.executionCompleted
            end, status = from_timestamp(event.timestamp), int(done.workflowStatus)
            if done.HasField("failureDetails"):
                error = _failure(done.failureDetails)
    attributes = dict(base)
    attributes |= {
        "workflow.name": info.name,
        "workflow.execution_id": execution_id,
        "workflow.status": pb.STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if info.HasField("parentInstance"):
        attributes["workflow.parent_instance_id"] = info.parentInstance.workflowInstance.instanceId
    if status == pb.FAILED and error is None:
        error = "workflow failed"
    links = []
    if trace.continued and trace.parent is not None:
        links.append((trace.parent.trace_id, trace.parent.span_id))
        attributes["workflow.continued_as_new"] = True
    root = SpanRecord(
        name=f"workflow||{info.name}",
        trace_id=trace.trace_id,
        span_id=trace.span_id,
        parent_id=trace.parent.span_id if trace.parent is not None else None,
        start_ns=start,
        end_ns=max(end, start),
        attributes=attributes,
        error=error,
        links=links,
    )
    return [root, *builder.finish(end)]


def _failure(details: Any) -> str:
    return (
        f"{details.errorType}: {details.errorMessage}"
        if details.errorType
        else (details.errorMessage or "failed")
    )


class _Builder:
    def __init__(
        self, trace: ExecutionTrace, instance_id: str, execution_id: str, base: Attributes
    ) -> None:
        self.trace = trace
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.base = base
        self.open: dict[tuple[str, int], _Open] = {}
        self.done: list[SpanRecord] = []
        self.attempts: dict[str, int] = {}
        self.event_waits: dict[str, int] = {}  # event name -> when its wait timer was created
        self.last_ts = 0
        self.idle_since = 0  # end of the turn before the current one
        self.events_seen = 0

    def _begin(self, kind: str, event_id: int, name: str, start: int, extra: Attributes) -> None:
        self.open[(kind, event_id)] = _Open(name, kind, start, {**self.base, **extra})

    def _end(self, kind: str, event_id: int, end: int, error: str | None = None) -> None:
        opened = self.open.pop((kind, event_id), None)
        if opened is None:
            return
        self._record(kind, event_id, opened, end, error)

    def _record(self, kind: str, event_id: int, opened: _Open, end: int, error: str | None) -> None:
        opened.attributes["workflow.status"] = "FAILED" if error else "COMPLETED"
        self.done.append(
            SpanRecord(
                name=opened.name,
                trace_id=self.trace.trace_id,
                span_id=span_id(self.instance_id, self.execution_id, kind, event_id),
                parent_id=self.trace.span_id,
                start_ns=opened.start,
                end_ns=max(end, opened.start),
                attributes=opened.attributes,
                error=error,
            )
        )

    def add(self, event: Any) -> None:
        kind = event.WhichOneof("eventType")
        ts = from_timestamp(event.timestamp)
        if kind == "workflowStarted":
            self.idle_since = self.last_ts or ts
        elif kind == "taskScheduled":
            scheduled = event.taskScheduled
            key = scheduled.taskExecutionId or f"{scheduled.name}#{event.eventId}"
            self.attempts[key] = self.attempts.get(key, 0) + 1
            extra: Attributes = {
                "workflow.activity.name": scheduled.name,
                "workflow.task_id": event.eventId,
                "workflow.activity.attempt": self.attempts[key],
            }
            if event.HasField("router") and event.router.HasField("targetAppID"):
                extra["workflow.activity.app_id"] = event.router.targetAppID
            self._begin("activity", event.eventId, f"activity||{scheduled.name}", ts, extra)
        elif kind in _RESOLVES:
            span_kind, failed = _RESOLVES[kind]
            body = getattr(event, kind)
            error = _failure(body.failureDetails) if failed else None
            self._end(span_kind, body.taskScheduledId, ts, error)
        elif kind == "childWorkflowInstanceCreated":
            created = event.childWorkflowInstanceCreated
            extra = {
                "workflow.child.name": created.name,
                "workflow.child.instance_id": created.instanceId,
            }
            self._begin("child", event.eventId, f"child_workflow||{created.name}", ts, extra)
        elif kind == "timerCreated":
            self._timer_created(event, ts)
        elif kind == "timerFired":
            self._end("timer", event.timerFired.timerId, ts)
        elif kind == "eventRaised":
            self._event_raised(event, ts)
        self.last_ts = max(self.last_ts, ts)

    def _timer_created(self, event: Any, ts: int) -> None:
        created = event.timerCreated
        origin = created.WhichOneof("origin")
        if origin == "externalEvent":
            self.event_waits.setdefault(created.externalEvent.name, ts)
        if origin is not None and origin != "createTimer":
            return  # a wait's timeout or a retry delay: shown by the wait or the next attempt
        extra: Attributes = {"workflow.timer.fire_at_ns": from_timestamp(created.fireAt)}
        if created.name:
            extra["workflow.timer.name"] = created.name
        self._begin("timer", event.eventId, "timer", ts, extra)

    def _event_raised(self, event: Any, ts: int) -> None:
        name = event.eventRaised.name
        start = self.event_waits.pop(name, None)
        if start is None:
            start = min(self.idle_since or ts, ts)
        opened = _Open(f"event||{name}", "event", start, {**self.base, "workflow.event.name": name})
        # eventRaised events have no id of their own: they are numbered in history order.
        self.events_seen += 1
        self._record("event", self.events_seen, opened, ts, None)

    def finish(self, end: int) -> list[SpanRecord]:
        """Close what the execution left open (it ended first: terminated, failed, continued)."""
        for (kind, event_id), opened in list(self.open.items()):
            opened.attributes["workflow.unfinished"] = True
            self._record(kind, event_id, opened, end, None)
        self.open.clear()
        return self.done
