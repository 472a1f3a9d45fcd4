"""JSON documents the HTTP API returns: Dapr's instance view, tether's summaries and history."""

from __future__ import annotations

import importlib
from typing import Any

from tether import pb
from tether.core.events import from_timestamp
from tether.httpapi.common import rfc3339
from tether.store.base import InstanceRow

PROP_INPUT = "dapr.workflow.input"
PROP_OUTPUT = "dapr.workflow.output"
PROP_CUSTOM_STATUS = "dapr.workflow.custom_status"
PROP_ERROR_TYPE = "dapr.workflow.failure.error_type"
PROP_ERROR_MESSAGE = "dapr.workflow.failure.error_message"
PROP_STACK_TRACE = "dapr.workflow.failure.stack_trace"

_PAYLOAD_FIELDS = ("input", "result")

# Loaded dynamically: protobuf ships no type stubs (the same reason tether.pb re-exports Any).
_json_format: Any = importlib.import_module("google.protobuf.json_format")
MessageToDict = _json_format.MessageToDict


def dapr_status(status: int) -> str:
    """Dapr's ``runtimeStatus``: the name for 0-7, ``UNKNOWN`` for anything else (STALLED)."""
    if 0 <= status <= 7:
        return pb.STATUS_NAMES[status]
    return "UNKNOWN"


def dapr_instance(row: InstanceRow) -> dict[str, Any]:
    """The Dapr GET document (engine-semantics §6.3)."""
    properties: dict[str, str] = {}
    if row.input is not None:
        properties[PROP_INPUT] = row.input
    if row.custom_status is not None:
        properties[PROP_CUSTOM_STATUS] = row.custom_status
    failure = pb.TaskFailureDetails.FromString(row.failure) if row.failure else None
    if failure is None:
        if row.output is not None:
            properties[PROP_OUTPUT] = row.output
    else:
        properties[PROP_ERROR_TYPE] = failure.errorType
        properties[PROP_ERROR_MESSAGE] = failure.errorMessage
        if failure.HasField("stackTrace") and failure.stackTrace.value:
            properties[PROP_STACK_TRACE] = failure.stackTrace.value
    body: dict[str, Any] = {
        "instanceID": row.instance_id,
        "createdAt": rfc3339(row.created_at),
        "lastUpdatedAt": rfc3339(row.updated_at),
        "runtimeStatus": dapr_status(row.status),
    }
    if row.name:
        body["workflowName"] = row.name
    if properties:
        body["properties"] = properties
    return {k: body[k] for k in _DAPR_ORDER if k in body}


_DAPR_ORDER = (
    "instanceID",
    "workflowName",
    "createdAt",
    "lastUpdatedAt",
    "runtimeStatus",
    "properties",
)


def summary(row: InstanceRow) -> dict[str, Any]:
    """tether's list entry: the full status name (STALLED included) and where the instance runs."""
    body: dict[str, Any] = {
        "instanceID": row.instance_id,
        "workflowName": row.name,
        "appID": row.app_id,
        "runtimeStatus": pb.STATUS_NAMES.get(row.status, "UNKNOWN"),
        "createdAt": rfc3339(row.created_at),
        "lastUpdatedAt": rfc3339(row.updated_at),
        "executionID": row.execution_id,
        "parentInstanceID": row.parent_instance_id,
    }
    if row.scheduled_start:
        body["scheduledStartAt"] = rfc3339(row.scheduled_start)
    if row.completed_at:
        body["completedAt"] = rfc3339(row.completed_at)
    return body


def detail(row: InstanceRow) -> dict[str, Any]:
    """tether's instance document: the summary plus payloads, failure, stall and tags."""
    body = summary(row)
    body["input"] = row.input
    body["output"] = row.output
    body["customStatus"] = row.custom_status
    body["failure"] = (
        MessageToDict(pb.TaskFailureDetails.FromString(row.failure)) if row.failure else None
    )
    body["stall"] = (
        MessageToDict(pb.ExecutionStalledEvent.FromString(row.stall)) if row.stall else None
    )
    body["version"] = row.version_name
    body["tags"] = dict(row.tags)
    return body


def history_event(raw: bytes, include_payloads: bool) -> dict[str, Any]:
    """One history event: type, id, time, name, payload size and the remaining fields."""
    event = pb.HistoryEvent.FromString(raw)
    kind = event.WhichOneof("eventType") or "unknown"
    body: dict[str, Any] = {
        "eventId": event.eventId,
        "type": kind,
        "timestamp": rfc3339(from_timestamp(event.timestamp)),
        "name": None,
        "payloadSize": 0,
        "details": {},
    }
    if kind == "unknown":
        return body
    inner = getattr(event, kind)
    fields = inner.DESCRIPTOR.fields_by_name
    if "name" in fields and isinstance(inner.name, str):
        body["name"] = inner.name or None
    size = 0
    for field in _PAYLOAD_FIELDS:
        if field in fields and inner.HasField(field):
            size += len(getattr(inner, field).value.encode("utf-8"))
    body["payloadSize"] = size
    details = MessageToDict(inner)
    details.pop("name", None)
    if not include_payloads:
        for field in _PAYLOAD_FIELDS:
            details.pop(field, None)
    body["details"] = details
    return body
