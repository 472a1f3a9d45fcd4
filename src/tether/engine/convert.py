"""Conversions between stored rows, in-memory instance state and protocol messages."""

from __future__ import annotations

import random
import time
from typing import Any

from tether import clock, pb
from tether.core.commit import Meta
from tether.core.events import from_timestamp, to_timestamp
from tether.core.state import InstanceState, Message, ParentRef
from tether.store.base import InstanceRow, MessageRow


def new_msg_id() -> int:
    return random.getrandbits(62) + 1


def now_ns() -> int:
    return clock.now_ns()


def wall_ns() -> int:
    """Wall time even under a virtual clock (node heartbeats compare it across processes)."""
    return time.time_ns()


def message_row(message: Message, instance_id: str, app_id: str) -> MessageRow:
    return MessageRow(
        msg_id=message.msg_id,
        instance_id=instance_id,
        app_id=app_id,
        event=message.event.SerializeToString(),
        visible_at=message.visible_at,
        execution_id=message.execution_id,
        order=message.order,
    )


def message_from_row(row: MessageRow) -> Message:
    return Message(
        msg_id=row.msg_id,
        event=pb.HistoryEvent.FromString(row.event),
        visible_at=row.visible_at,
        execution_id=row.execution_id,
        order=row.order,
    )


def parent_ref(info: Any) -> ParentRef:
    return ParentRef(
        instance_id=info.workflowInstance.instanceId,
        app_id=info.appID if info.HasField("appID") else "",
        execution_id=info.workflowInstance.executionId.value,
        task_scheduled_id=info.taskScheduledId,
        name=info.name.value,
    )


def parent_info(parent: ParentRef) -> Any:
    info = pb.ParentInstanceInfo(taskScheduledId=parent.task_scheduled_id)
    info.name.value = parent.name
    info.workflowInstance.instanceId = parent.instance_id
    info.workflowInstance.executionId.value = parent.execution_id
    info.appID = parent.app_id
    return info


def state_from_rows(
    row: InstanceRow, history: list[bytes], messages: list[MessageRow]
) -> InstanceState:
    state = InstanceState(
        instance_id=row.instance_id,
        app_id=row.app_id,
        name=row.name,
        execution_id=row.execution_id,
        status=row.status,
        input=row.input,
        output=row.output,
        custom_status=row.custom_status,
        failure=pb.TaskFailureDetails.FromString(row.failure) if row.failure else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        scheduled_start=row.scheduled_start,
        parent=parent_ref(pb.ParentInstanceInfo.FromString(row.parent)) if row.parent else None,
        stall=pb.ExecutionStalledEvent.FromString(row.stall) if row.stall else None,
        tags=dict(row.tags),
    )
    state.append_history([pb.HistoryEvent.FromString(b) for b in history])
    state.inbox = [message_from_row(m) for m in messages]
    return state


def row_from_state(state: InstanceState, owner: str | None) -> InstanceRow:
    return InstanceRow(
        instance_id=state.instance_id,
        app_id=state.app_id,
        name=state.name,
        status=state.status,
        execution_id=state.execution_id,
        created_at=state.created_at,
        updated_at=state.updated_at,
        started_at=state.started_at,
        completed_at=state.completed_at,
        scheduled_start=state.scheduled_start,
        input=state.input,
        output=state.output,
        custom_status=state.custom_status,
        failure=state.failure.SerializeToString() if state.failure is not None else None,
        parent_instance_id=state.parent.instance_id if state.parent else None,
        parent=parent_info(state.parent).SerializeToString() if state.parent else None,
        stall=state.stall.SerializeToString() if state.stall is not None else None,
        version_name=state.version_name,
        tags=dict(state.tags),
        owner=owner,
    )


def row_with_meta(state: InstanceState, meta: Meta, owner: str | None) -> InstanceRow:
    """The row an instance will have once a turn with this new metadata commits."""
    row = row_from_state(state, owner)
    row.status = meta.status
    row.execution_id = meta.execution_id
    row.custom_status = meta.custom_status
    row.output = meta.output
    row.failure = meta.failure.SerializeToString() if meta.failure is not None else None
    row.stall = meta.stall.SerializeToString() if meta.stall is not None else None
    row.input = meta.input
    row.created_at = meta.created_at
    row.started_at = meta.started_at
    row.updated_at = meta.updated_at
    row.completed_at = meta.completed_at
    row.version_name = meta.version_name
    return row


def pending_row(
    started: Any, app_id: str, owner: str | None, scheduled_start: int | None
) -> InstanceRow:
    """The row of an instance whose start event is queued but not yet delivered."""
    info = started.executionStarted
    parent = parent_ref(info.parentInstance) if info.HasField("parentInstance") else None
    return InstanceRow(
        instance_id=info.workflowInstance.instanceId,
        app_id=app_id,
        name=info.name,
        status=pb.PENDING,
        execution_id=info.workflowInstance.executionId.value,
        created_at=0,
        updated_at=0,
        scheduled_start=scheduled_start,
        input=info.input.value if info.HasField("input") else None,
        parent_instance_id=parent.instance_id if parent else None,
        parent=parent_info(parent).SerializeToString() if parent else None,
        tags=dict(info.tags),
        owner=owner,
    )


def workflow_state(row: InstanceRow, with_payloads: bool) -> Any:
    """The protocol's ``WorkflowState`` for a stored instance."""
    state = pb.WorkflowState(instanceId=row.instance_id, name=row.name, workflowStatus=row.status)
    state.createdTimestamp.CopyFrom(
        to_timestamp(row.created_at) if row.created_at else pb.Timestamp()
    )
    state.lastUpdatedTimestamp.CopyFrom(
        to_timestamp(row.updated_at) if row.updated_at else pb.Timestamp()
    )
    state.executionId.value = row.execution_id
    if row.scheduled_start:
        state.scheduledStartTimestamp.CopyFrom(to_timestamp(row.scheduled_start))
    if row.completed_at:
        state.completedTimestamp.CopyFrom(to_timestamp(row.completed_at))
    if row.started_at:
        state.startedAt.CopyFrom(to_timestamp(row.started_at))
    if row.version_name:
        state.version.value = row.version_name
    if row.parent_instance_id:
        state.parentInstanceId.value = row.parent_instance_id
        if row.parent:
            info = pb.ParentInstanceInfo.FromString(row.parent)
            if info.HasField("appID") and info.appID:
                state.parentAppId.value = info.appID
    if row.tags:
        state.tags.update(row.tags)
    if with_payloads:
        if row.input is not None:
            state.input.value = row.input
        if row.output is not None:
            state.output.value = row.output
        if row.custom_status is not None:
            state.customStatus.value = row.custom_status
        if row.failure:
            state.failureDetails.ParseFromString(row.failure)
    return state


def timestamp_ns(ts: Any) -> int:
    return from_timestamp(ts)
