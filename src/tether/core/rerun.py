"""Rerun from an event: fork a terminal instance's history at a scheduling event.

The new history keeps everything up to the chosen event, with each scheduling event
(``taskScheduled``, ``timerCreated``, ``childWorkflowInstanceCreated``) moved next to its result.
Scheduling events whose results never came, and the chosen event itself, end the history; the
engine then re-runs exactly those: activities dispatched, children created, timers armed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core.events import to_timestamp
from tether.errors import AlreadyExists, InvalidArgument, NotFound

_SCHEDULING = ("taskScheduled", "timerCreated", "childWorkflowInstanceCreated")


@dataclass
class RerunRequest:
    source_instance_id: str
    event_id: int
    new_instance_id: str | None = None
    input: str | None = None
    overwrite_input: bool = False
    new_child_instance_id: str | None = None
    trace: Any | None = None  # the caller's pb.TraceContext: the new execution span's parent


@dataclass
class Fork:
    history: list[Any]
    pending: list[Any] = field(default_factory=list)  # scheduling events left without a result


def check_request(req: RerunRequest) -> None:
    if not req.source_instance_id:
        raise InvalidArgument("a source instance ID is required to rerun a workflow")
    if req.new_instance_id is not None and req.new_instance_id == req.source_instance_id:
        raise InvalidArgument(
            "the new instance ID must differ from the source instance ID "
            f"'{req.source_instance_id}'"
        )


def check_source(req: RerunRequest, exists: bool, status: int, has_parent: bool) -> None:
    source = req.source_instance_id
    if not exists:
        raise NotFound(f"workflow instance does not exist with ID '{source}'")
    if status not in pb.TERMINAL_STATUSES:
        raise InvalidArgument(f"'{source}' is not in a terminal state")
    if has_parent:
        raise InvalidArgument(f"'{source}' is a child workflow: cannot rerun from child-workflows")


def check_target_free(new_id: str, exists: bool) -> None:
    if exists:
        raise AlreadyExists(f"workflow '{new_id}' has already been created")


def _result_of(event: Any) -> tuple[str, int] | None:
    kind = event.WhichOneof("eventType")
    if kind in ("taskCompleted", "taskFailed"):
        return "taskScheduled", getattr(event, kind).taskScheduledId
    if kind in ("childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"):
        return "childWorkflowInstanceCreated", getattr(event, kind).taskScheduledId
    return None


def fork(history: list[Any], req: RerunRequest, new_id: str, now: int) -> Fork:
    """The new instance's history and its unfinished scheduling events (target last)."""
    target_index = next(
        (i for i, e in enumerate(history) if e.eventId == req.event_id and e.eventId >= 0),
        None,
    )
    if target_index is None:
        raise NotFound(
            f"workflow '{req.source_instance_id}' does not have history event "
            f"with ID '{req.event_id}'"
        )
    target = history[target_index]
    kind = target.WhichOneof("eventType")
    if kind == "detachedWorkflowInstanceCreated":
        raise InvalidArgument("cannot rerun from a detached workflow spawn")
    if kind not in _SCHEDULING:
        raise NotFound(
            f"workflow '{req.source_instance_id}' does not have history event with ID "
            f"'{req.event_id}' that schedules an activity, timer or child workflow"
        )
    if kind == "timerCreated" and req.overwrite_input:
        raise InvalidArgument("a timer has no input to overwrite")
    if kind != "childWorkflowInstanceCreated" and req.new_child_instance_id is not None:
        raise InvalidArgument(
            "a new child workflow instance ID only applies to a child workflow event"
        )

    copied: list[Any] = []
    held: dict[tuple[str, int], Any] = {}
    for event in history[:target_index]:
        event_kind = event.WhichOneof("eventType")
        if event_kind in _SCHEDULING:
            held[(event_kind, event.eventId)] = event
            continue
        if event_kind == "executionCompleted":
            continue
        source = _result_of(event)
        if source is not None and source in held:
            copied.append(held.pop(source))
        copied.append(event)

    out: list[Any] = []
    for event in copied:
        clone = pb.HistoryEvent()
        clone.CopyFrom(event)
        if clone.HasField("executionStarted"):
            instance = clone.executionStarted.workflowInstance
            instance.instanceId = new_id
        out.append(clone)
    pending: list[Any] = []
    for (held_kind, event_id), event in held.items():
        clone = pb.HistoryEvent()
        clone.CopyFrom(event)
        if held_kind == "childWorkflowInstanceCreated":
            clone.childWorkflowInstanceCreated.instanceId = f"{new_id}:{event_id:04x}"
        pending.append(clone)
    chosen = pb.HistoryEvent()
    chosen.CopyFrom(target)
    if kind == "taskScheduled":
        chosen.taskScheduled.rerunParentInstanceInfo.instanceID = req.source_instance_id
        if req.overwrite_input:
            chosen.taskScheduled.ClearField("input")
            if req.input is not None:
                chosen.taskScheduled.input.value = req.input
    elif kind == "childWorkflowInstanceCreated":
        created = chosen.childWorkflowInstanceCreated
        created.rerunParentInstanceInfo.instanceID = req.source_instance_id
        created.instanceId = req.new_child_instance_id or f"{new_id}:{req.event_id:04x}"
        if req.overwrite_input:
            created.ClearField("input")
            if req.input is not None:
                created.input.value = req.input
    else:
        chosen.timerCreated.rerunParentInstanceInfo.instanceID = req.source_instance_id
    pending.append(chosen)
    result = out + pending
    for i, event in enumerate(result):
        event.timestamp.CopyFrom(to_timestamp(now + i * 1000))
    return Fork(history=result, pending=pending)
