"""Constructors and small readers for protobuf history events."""

from __future__ import annotations

from typing import Any

from tether import pb

NANOS = 1_000_000_000


def to_timestamp(ns: int) -> Any:
    ts = pb.Timestamp()
    ts.seconds, ts.nanos = divmod(ns, NANOS)
    return ts


# Times are kept as signed 64-bit ns since the epoch (the store's INTEGER), which spans
# 1677-09-21 to 2262-04-11. A protobuf timestamp may name any instant of years 1-9999.
MAX_NS = 2**63 - 1
MIN_NS = -(2**63)
# The protobuf Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799


def from_timestamp(ts: Any) -> int:
    """ns since the epoch, held inside the stored range: an instant past 2262 (a timer centuries
    away) stays pending until then, one before 1677 is simply in the past."""
    return max(MIN_NS, min(MAX_NS, int(ts.seconds) * NANOS + int(ts.nanos)))


def timestamp_problem(ts: Any) -> str | None:
    """Why ``ts`` is not a valid protobuf timestamp (years 1-9999, nanos 0-999,999,999)."""
    if not MIN_SECONDS <= int(ts.seconds) <= MAX_SECONDS:
        return f"seconds={ts.seconds} is outside years 1-9999"
    if not 0 <= int(ts.nanos) < NANOS:
        return f"nanos={ts.nanos} is outside 0-999999999"
    return None


def is_sentinel(ts: Any) -> bool:
    """True for the far-future fire time of an indefinite wait (never armed)."""
    return int(ts.seconds) >= pb.SENTINEL_SECONDS


def string_value(value: str | None) -> Any:
    return None if value is None else pb.StringValue(value=value)


def opt_str(message: Any, field: str) -> str | None:
    """The value of a ``StringValue`` field, or None when it is absent."""
    return message.__getattribute__(field).value if message.HasField(field) else None


def new_event(ns: int, event_id: int = -1) -> Any:
    event = pb.HistoryEvent(eventId=event_id)
    event.timestamp.seconds, event.timestamp.nanos = divmod(ns, NANOS)
    return event


def workflow_started(ns: int) -> Any:
    event = new_event(ns)
    event.workflowStarted.SetInParent()
    return event


def event_raised(ns: int, name: str, data: str | None) -> Any:
    event = new_event(ns)
    event.eventRaised.name = name
    if data is not None:
        event.eventRaised.input.value = data
    return event


def execution_terminated(ns: int, output: str | None, recurse: bool) -> Any:
    event = new_event(ns)
    event.executionTerminated.recurse = recurse
    if output is not None:
        event.executionTerminated.input.value = output
    return event


def execution_suspended(ns: int, reason: str | None) -> Any:
    event = new_event(ns)
    event.executionSuspended.SetInParent()
    if reason:
        event.executionSuspended.input.value = reason
    return event


def execution_resumed(ns: int, reason: str | None) -> Any:
    event = new_event(ns)
    event.executionResumed.SetInParent()
    if reason:
        event.executionResumed.input.value = reason
    return event


def timer_fired(ns: int, timer_id: int, fire_at: Any) -> Any:
    event = new_event(ns)
    event.timerFired.timerId = timer_id
    event.timerFired.fireAt.CopyFrom(fire_at)
    return event


def task_result(ns: int, task_id: int, response: Any) -> Any:
    """``taskCompleted`` or ``taskFailed`` for ``task_id`` from a worker's ActivityResponse."""
    event = new_event(ns)
    if response.HasField("failureDetails"):
        event.taskFailed.taskScheduledId = task_id
        event.taskFailed.failureDetails.CopyFrom(response.failureDetails)
    else:
        event.taskCompleted.taskScheduledId = task_id
        if response.HasField("result"):
            event.taskCompleted.result.CopyFrom(response.result)
    return event


def event_kind(event: Any) -> str:
    kind: str = event.WhichOneof("eventType") or ""
    return kind
