"""The component schemas of the OpenAPI document (:mod:`tether.httpapi.openapi`): the JSON
bodies the routes answer with and accept."""

from __future__ import annotations

from typing import Any

from tether import pb


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas() -> dict[str, Any]:
    string = {"type": "string"}
    nullable_string = {"type": "string", "nullable": True}
    stamp = {"type": "string", "format": "date-time"}
    summary_props: dict[str, Any] = {
        "instanceID": string,
        "workflowName": string,
        "appID": string,
        "runtimeStatus": {"type": "string", "enum": [*pb.STATUS_NAMES.values(), "UNKNOWN"]},
        "createdAt": stamp,
        "lastUpdatedAt": stamp,
        "executionID": string,
        "parentInstanceID": nullable_string,
        "scheduledStartAt": stamp,
        "completedAt": stamp,
    }
    summary_required = ["instanceID", "workflowName", "appID", "runtimeStatus", "createdAt"]
    return {
        "Error": {
            "type": "object",
            "required": ["errorCode", "message"],
            "properties": {"errorCode": string, "message": string},
        },
        "StartResponse": {
            "type": "object",
            "required": ["instanceID"],
            "properties": {"instanceID": string},
        },
        "DaprInstance": {
            "type": "object",
            "required": ["instanceID", "createdAt", "lastUpdatedAt", "runtimeStatus"],
            "properties": {
                "instanceID": string,
                "workflowName": string,
                "createdAt": stamp,
                "lastUpdatedAt": stamp,
                "runtimeStatus": {
                    "type": "string",
                    "enum": [*(pb.STATUS_NAMES[i] for i in range(8)), "UNKNOWN"],
                },
                "properties": {"type": "object", "additionalProperties": string},
            },
        },
        "Metadata": {
            "type": "object",
            "required": ["id", "runtimeVersion"],
            "properties": {
                "id": string,
                "runtimeVersion": string,
                "store": string,
                "connectedWorkers": {"type": "integer"},
                "workflows": {"type": "object"},
            },
        },
        "InstanceSummary": {
            "type": "object",
            "required": summary_required,
            "properties": summary_props,
        },
        "InstanceDetail": {
            "type": "object",
            "required": summary_required,
            "properties": {
                **summary_props,
                "input": nullable_string,
                "output": nullable_string,
                "customStatus": nullable_string,
                "failure": {"type": "object", "nullable": True},
                "stall": {"type": "object", "nullable": True},
                "version": nullable_string,
                "tags": {"type": "object", "additionalProperties": string},
            },
        },
        "InstanceList": {
            "type": "object",
            "required": ["instances", "nextCursor"],
            "properties": {
                "instances": {"type": "array", "items": ref("InstanceSummary")},
                "nextCursor": nullable_string,
            },
        },
        "HistoryEvent": {
            "type": "object",
            "required": ["eventId", "type", "timestamp", "payloadSize", "details"],
            "properties": {
                "eventId": {"type": "integer"},
                "type": string,
                "timestamp": stamp,
                "name": nullable_string,
                "payloadSize": {"type": "integer", "minimum": 0},
                "details": {"type": "object"},
            },
        },
        "History": {
            "type": "object",
            "required": ["instanceID", "events"],
            "properties": {
                "instanceID": string,
                "appID": string,
                "events": {"type": "array", "items": ref("HistoryEvent")},
            },
        },
        "PurgeResult": {
            "type": "object",
            "required": ["deletedInstanceCount"],
            "properties": {"deletedInstanceCount": {"type": "integer", "minimum": 0}},
        },
        "Timer": {
            "type": "object",
            "required": ["name", "type", "appID", "instanceID", "dueTime"],
            "properties": {
                "name": string,
                "type": {"type": "string", "enum": ["timer", "start"]},
                "appID": string,
                "instanceID": string,
                "dueTime": stamp,
                "timerID": {"type": "integer"},
                "executionID": string,
            },
        },
        "ReminderExport": {
            "type": "object",
            "required": ["format", "version", "reminders"],
            "properties": {
                "format": {"type": "string", "enum": ["tether-scheduler-export"]},
                "version": {"type": "integer", "enum": [1]},
                "exportedAt": stamp,
                "reminders": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["appID", "instanceID", "visibleAt", "order", "event"],
                        "properties": {
                            "name": string,
                            "appID": string,
                            "instanceID": string,
                            "executionID": nullable_string,
                            "visibleAt": {"type": "integer"},
                            "order": {"type": "integer"},
                            "event": {"type": "string", "format": "byte"},
                        },
                    },
                },
            },
        },
        "RerunRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["eventID"],
            "properties": {
                "eventID": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                "newInstanceID": {"type": "string", "minLength": 1, "maxLength": 64},
                "input": nullable_string,
                "overwriteInput": {"type": "boolean"},
                "newChildWorkflowInstanceID": {"type": "string", "minLength": 1},
            },
        },
    }
