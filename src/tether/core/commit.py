"""What a turn's result does to an instance's metadata and in-memory state.

``next_meta`` computes the instance's new metadata (status, payloads, times) from a
:class:`TurnResult` without touching the state, so the engine can persist it first;
``apply_result`` then folds the committed result into the in-memory state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether import pb
from tether.core.events import from_timestamp, opt_str
from tether.core.state import InstanceState, Message
from tether.core.turns import TurnPlan, TurnResult


@dataclass
class Meta:
    status: int
    execution_id: str
    custom_status: str | None
    output: str | None
    failure: Any | None
    stall: Any | None
    input: str | None
    created_at: int
    started_at: int | None
    updated_at: int
    completed_at: int | None
    version_name: str | None


def next_meta(state: InstanceState, result: TurnResult, now: int) -> Meta:
    meta = Meta(
        status=state.status,
        execution_id=state.execution_id,
        custom_status=result.custom_status,
        output=state.output,
        failure=state.failure,
        stall=result.stall,
        input=state.input,
        created_at=state.created_at,
        started_at=state.started_at,
        updated_at=now,
        completed_at=state.completed_at,
        version_name=state.version_name,
    )
    if result.continue_as_new is not None:
        started = result.continue_as_new.started.executionStarted
        meta.execution_id = started.workflowInstance.executionId.value
        meta.input = opt_str(started, "input")
        meta.status = pb.RUNNING
        meta.created_at = from_timestamp(result.continue_as_new.started.timestamp)
        meta.version_name = None
        meta.stall = None
        return meta
    suspended = state.suspended
    for event in result.history:
        kind = event.WhichOneof("eventType")
        if kind == "executionStarted":
            meta.created_at = from_timestamp(event.timestamp)
            meta.input = opt_str(event.executionStarted, "input")
            if meta.started_at is None:
                meta.started_at = from_timestamp(result.history[0].timestamp)
        elif kind == "workflowStarted" and meta.version_name is None:
            version = event.workflowStarted.version
            if event.workflowStarted.HasField("version") and version.HasField("name"):
                meta.version_name = version.name
        elif kind == "executionSuspended":
            suspended = True
        elif kind == "executionResumed":
            suspended = False
    if result.terminal:
        meta.status = result.status
        meta.output = result.output
        meta.failure = result.failure
        meta.completed_at = now
    elif result.stall is not None:
        meta.status = pb.STALLED
    else:
        meta.status = pb.SUSPENDED if suspended else pb.RUNNING
    return meta


def restart_messages(
    state: InstanceState, plan: TurnPlan, result: TurnResult, now: int, new_ids: list[int]
) -> list[Message]:
    """Inbox messages that start a continued-as-new execution: its start, then carried-over events.

    They sort before anything still in the inbox, so carried-over events keep their place ahead of
    events that arrived during the turn; and before the messages the turn consumed, since an event
    that arrived during the turn may be stamped earlier than the turn's end (stamped when sent,
    stored later) without being in memory yet.
    """
    assert result.continue_as_new is not None
    events = [result.continue_as_new.started, *result.continue_as_new.carryover]
    first = min([*(m.order for m in state.inbox), now])
    return [
        Message(new_ids[i], event, now, None, first - len(events) + i)
        for i, event in enumerate(events)
    ]


def apply_result(
    state: InstanceState,
    plan: TurnPlan,
    result: TurnResult,
    meta: Meta,
    restart: list[Message],
) -> None:
    """Fold a committed turn into the in-memory state (inbox, history, metadata)."""
    removed = set(result.consumed) | set(plan.dropped)
    state.inbox = [m for m in state.inbox if m.msg_id not in removed]
    if result.continue_as_new is not None:
        old_execution = state.execution_id
        state.reset_history()
        state.inbox = [m for m in state.inbox if m.execution_id != old_execution]
        state.inbox = sorted([*restart, *state.inbox], key=lambda m: (m.order, m.msg_id))
    else:
        state.append_history(result.history)
    if result.terminal:
        state.inbox = []
    else:
        state.inbox.extend(result.timers)
    state.execution_id = meta.execution_id
    state.status = meta.status
    state.custom_status = meta.custom_status
    state.output = meta.output
    state.failure = meta.failure
    state.stall = meta.stall
    state.input = meta.input
    state.created_at = meta.created_at
    state.started_at = meta.started_at
    state.updated_at = meta.updated_at
    state.completed_at = meta.completed_at
    state.version_name = meta.version_name
