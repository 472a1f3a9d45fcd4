"""JSON documents the HTTP API returns, formatted from the read model (:mod:`tether.engine.query`):
Dapr's instance view, tether's summaries, details, history and reminders."""

from __future__ import annotations

from typing import Any

from tether import pb
from tether.engine.query import (
    PAYLOAD_FIELDS,
    FailureView,
    HistoryEventView,
    InstanceView,
    TimerView,
)
from tether.httpapi.common import rfc3339

PROP_INPUT = "dapr.workflow.input"
PROP_OUTPUT = "dapr.workflow.output"
PROP_CUSTOM_STATUS = "dapr.workflow.custom_status"
PROP_ERROR_TYPE = "dapr.workflow.failure.error_type"
PROP_ERROR_MESSAGE = "dapr.workflow.failure.error_message"
PROP_STACK_TRACE = "dapr.workflow.failure.stack_trace"


def dapr_status(status: int) -> str:
    """Dapr's ``runtimeStatus``: the name for 0-7, ``UNKNOWN`` for anything else (STALLED)."""
    if 0 <= status <= 7:
        return pb.STATUS_NAMES[status]
    return "UNKNOWN"


def dapr_instance(view: InstanceView) -> dict[str, Any]:
    """The Dapr GET document (engine-semantics §6.3)."""
    properties: dict[str, str] = {}
    if view.input is not None:
        properties[PROP_INPUT] = view.input
    if view.custom_status is not None:
        properties[PROP_CUSTOM_STATUS] = view.custom_status
    failure = view.failure
    if failure is None:
        if view.output is not None:
            properties[PROP_OUTPUT] = view.output
    else:
        properties[PROP_ERROR_TYPE] = failure.error_type
        properties[PROP_ERROR_MESSAGE] = failure.message
        if failure.stack_trace:
            properties[PROP_STACK_TRACE] = failure.stack_trace
    body: dict[str, Any] = {"instanceID": view.instance_id}
    if view.name:
        body["workflowName"] = view.name
    body["createdAt"] = rfc3339(view.created_at)
    body["lastUpdatedAt"] = rfc3339(view.updated_at)
    body["runtimeStatus"] = dapr_status(view.status)
    if properties:
        body["properties"] = properties
    return body


def summary(view: InstanceView) -> dict[str, Any]:
    """tether's list entry: the full status name (STALLED included) and where the instance runs."""
    body: dict[str, Any] = {
        "instanceID": view.instance_id,
        "workflowName": view.name,
        "appID": view.app_id,
        "runtimeStatus": view.status_name,
        "createdAt": rfc3339(view.created_at),
        "lastUpdatedAt": rfc3339(view.updated_at),
        "executionID": view.execution_id,
        "parentInstanceID": view.parent_instance_id,
    }
    if view.scheduled_start:
        body["scheduledStartAt"] = rfc3339(view.scheduled_start)
    if view.completed_at:
        body["completedAt"] = rfc3339(view.completed_at)
    return body


def failure_document(failure: FailureView) -> dict[str, Any]:
    """A failure with the protocol's JSON names (``TaskFailureDetails``)."""
    body: dict[str, Any] = {"errorType": failure.error_type, "errorMessage": failure.message}
    if failure.stack_trace is not None:
        body["stackTrace"] = failure.stack_trace
    if failure.cause is not None:
        body["innerFailure"] = failure_document(failure.cause)
    if failure.non_retriable:
        body["isNonRetriable"] = True
    return body


def detail(view: InstanceView) -> dict[str, Any]:
    """tether's instance document: the summary plus payloads, failure, stall and tags."""
    body = summary(view)
    body["input"] = view.input
    body["output"] = view.output
    body["customStatus"] = view.custom_status
    body["failure"] = failure_document(view.failure) if view.failure else None
    stall = view.stall
    body["stall"] = (
        None
        if stall is None
        else {"reason": stall.reason}
        | ({"description": stall.description} if stall.description is not None else {})
    )
    body["version"] = view.version
    body["tags"] = dict(view.tags)
    return body


def history_event(event: HistoryEventView, include_payloads: bool) -> dict[str, Any]:
    """One history event: type, id, time, name, payload size and the remaining fields."""
    details = dict(event.details)
    details.pop("name", None)
    if not include_payloads:
        for key in PAYLOAD_FIELDS:
            details.pop(key, None)
    return {
        "eventId": event.event_id,
        "type": event.kind,
        "timestamp": rfc3339(event.timestamp),
        "name": event.name,
        "payloadSize": event.payload_size,
        "details": details,
    }


def timer_document(timer: TimerView) -> dict[str, Any]:
    """A pending reminder (durable timer or scheduled start)."""
    body: dict[str, Any] = {
        "name": timer.name,
        "type": timer.kind,
        "appID": timer.app_id,
        "instanceID": timer.instance_id,
        "dueTime": rfc3339(timer.due_at),
    }
    if timer.timer_id is not None:
        body["timerID"] = timer.timer_id
    if timer.execution_id:
        body["executionID"] = timer.execution_id
    return body
