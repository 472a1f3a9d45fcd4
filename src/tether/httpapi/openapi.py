"""The OpenAPI 3 document of every HTTP route (Dapr's and tether's), served at
``/tether/v1/openapi.json``. Kept beside the routes; tests fuzz the API from it, so a route or a
status code missing here shows up as a test failure."""

from __future__ import annotations

from typing import Any

from tether import __version__, pb
from tether.httpapi.metrics import metrics_paths
from tether.httpapi.openapi_schemas import ref as _ref
from tether.httpapi.openapi_schemas import schemas
from tether.httpapi.routes_dapr import DAPR_VERSIONS
from tether.httpapi.routes_ext import MAX_PAGE, PREFIX

OPENAPI_PATH = f"{PREFIX}/openapi.json"
_ERR = "#/components/responses/Error"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    # Every route can also answer 401 (API token), 404 (malformed path), 405 and 413 (body size).
    codes = {401, 404, 405, 413, *statuses}
    return {str(code): {"$ref": _ERR} for code in sorted(codes)}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _object_body(properties: dict[str, Any], required: bool = False) -> dict[str, Any]:
    """A JSON object request body with exactly these (optional) fields."""
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_COMPONENT = _path_param(
    "component", "Workflow component name (documented as `dapr`; not checked)."
)
_INSTANCE = _path_param("instanceID", "Workflow instance ID.")
_APP_ID = _query("appID", "Target app ID when the instance runs in another app.")
_RAW_BODY = {
    "required": False,
    "content": {
        "application/json": {"schema": {}},
        "text/plain": {"schema": {"type": "string"}},
    },
}
_ACCEPTED_EMPTY = _json({"type": "object", "maxProperties": 0}, "Accepted: the request is queued.")


def _dapr_paths(version: str) -> dict[str, Any]:
    tag = f"Dapr workflow API ({version})"
    op_suffix = version.replace(".", "_").replace("-", "_")
    base = f"/{version}/workflows/{{component}}"

    def control(op: str, summary: str, failure_code: str, not_found: bool) -> dict[str, Any]:
        statuses = (400, 500, 404) if not_found else (400, 500)
        return {
            "post": {
                "operationId": f"{op}_{op_suffix}",
                "tags": [tag],
                "summary": summary,
                "description": f"Does not wait for the effect. Fails with 500 `{failure_code}`.",
                "parameters": [_COMPONENT, _INSTANCE, _APP_ID],
                "responses": {"202": _ACCEPTED_EMPTY, **_errors(*statuses)},
            }
        }

    return {
        f"{base}/{{workflowName}}/start": {
            "post": {
                "operationId": f"start_{op_suffix}",
                "tags": [tag],
                "summary": "Start a workflow instance",
                "description": (
                    "The raw body is the input string, stored verbatim. Without `instanceID` a "
                    "UUID is generated. Does not wait for the first turn. Starting an active ID "
                    "of the same workflow returns it unchanged; of another workflow fails with "
                    "500 `ERR_START_WORKFLOW`."
                ),
                "parameters": [
                    _COMPONENT,
                    _path_param("workflowName", "Registered workflow name."),
                    _query(
                        "instanceID",
                        "Instance ID: letters, digits, `-` and `_`, at most 64 characters.",
                    ),
                    _APP_ID,
                ],
                "requestBody": _RAW_BODY,
                "responses": {
                    "202": _json(_ref("StartResponse"), "Started (or already running)."),
                    **_errors(400, 500),
                },
            }
        },
        f"{base}/{{instanceID}}": {
            "get": {
                "operationId": f"get_{op_suffix}",
                "tags": [tag],
                "summary": "Get a workflow instance",
                "parameters": [_COMPONENT, _INSTANCE, _APP_ID],
                "responses": {
                    "200": _json(_ref("DaprInstance"), "The instance."),
                    **_errors(400, 404, 500),
                },
            }
        },
        f"{base}/{{instanceID}}/terminate": control(
            "terminate", "Terminate an instance (recursive)", "ERR_TERMINATE_WORKFLOW", True
        ),
        f"{base}/{{instanceID}}/pause": control(
            "pause", "Suspend an instance", "ERR_PAUSE_WORKFLOW", False
        ),
        f"{base}/{{instanceID}}/resume": control(
            "resume", "Resume a suspended instance", "ERR_RESUME_WORKFLOW", False
        ),
        f"{base}/{{instanceID}}/purge": control(
            "purge",
            "Purge a terminal instance and its descendants",
            "ERR_PURGE_WORKFLOW",
            True,
        ),
        f"{base}/{{instanceID}}/raiseEvent/{{eventName}}": {
            "post": {
                "operationId": f"raise_event_{op_suffix}",
                "tags": [tag],
                "summary": "Raise an external event",
                "description": "The raw body is the event data. Fails with 500 "
                "`ERR_RAISE_EVENT_WORKFLOW` (also for an unknown instance, as daprd does).",
                "parameters": [
                    _COMPONENT,
                    _INSTANCE,
                    _path_param("eventName", "Event name (matched case-insensitively)."),
                    _APP_ID,
                ],
                "requestBody": _RAW_BODY,
                "responses": {"202": _ACCEPTED_EMPTY, **_errors(400, 500)},
            }
        },
    }


def _health_paths(version: str) -> dict[str, Any]:
    op_suffix = version.replace(".", "_").replace("-", "_")
    tag = "Health and metadata"
    ready = {
        "204": {"description": "Ready."},
        "500": {"description": "Not ready (starting or shutting down)."},
    }
    return {
        f"/{version}/healthz": {
            "get": {
                "operationId": f"healthz_{op_suffix}",
                "tags": [tag],
                "summary": "Sidecar health (no API token needed)",
                "security": [],
                "responses": ready,
            }
        },
        f"/{version}/healthz/outbound": {
            "get": {
                "operationId": f"healthz_outbound_{op_suffix}",
                "tags": [tag],
                "summary": "Outbound health (no API token needed)",
                "security": [],
                "responses": ready,
            }
        },
        f"/{version}/metadata": {
            "get": {
                "operationId": f"metadata_{op_suffix}",
                "tags": [tag],
                "summary": "Sidecar metadata",
                "responses": {"200": _json(_ref("Metadata"), "Metadata."), **_errors()},
            }
        },
    }


def _list_filters() -> list[dict[str, Any]]:
    """The filters and sort shared by the listing and the counts."""
    stamp = {"type": "string", "format": "date-time"}
    return [
        {
            "name": "status",
            "in": "query",
            "required": False,
            "description": "Status names (repeat the parameter or comma-separate).",
            "style": "form",
            "explode": True,
            "schema": {
                "type": "array",
                "items": {"type": "string", "enum": list(pb.STATUS_NAMES.values())},
            },
        },
        _query("name", "Workflow name."),
        _query("createdAfter", "Created at or after (RFC 3339).", stamp),
        _query("createdBefore", "Created before (RFC 3339).", stamp),
        _query("updatedAfter", "Last updated at or after (RFC 3339).", stamp),
        _query("updatedBefore", "Last updated before (RFC 3339).", stamp),
        _query("idPrefix", "Instance IDs starting with this text."),
        _query("parent", "Parent instance ID (children of that instance)."),
        _query("appID", "App ID (default: this sidecar's app; `*` for all apps)."),
        _query(
            "sort",
            "Order by instance ID (default), creation or last update time; ties by ID.",
            {"type": "string", "enum": ["instanceID", "createdAt", "updatedAt"]},
        ),
        _query("order", "asc (default) or desc.", {"type": "string", "enum": ["asc", "desc"]}),
    ]


def _timer_paths(tag: str) -> dict[str, Any]:
    app = _query("appID", "App ID (default: this sidecar's app; `*` for all apps).")
    export_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("ReminderExport")}},
    }
    return {
        f"{PREFIX}/timers": {
            "get": {
                "operationId": "tether_list_timers",
                "tags": [tag],
                "summary": "Pending reminders: durable timers and scheduled starts",
                "parameters": [
                    app,
                    {
                        "name": "name",
                        "in": "query",
                        "required": False,
                        "description": "Only these reminders (repeat the parameter); 404 if one "
                        "is missing.",
                        "style": "form",
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["timers"],
                            "properties": {"timers": {"type": "array", "items": _ref("Timer")}},
                        },
                        "Reminders, earliest first.",
                    ),
                    **_errors(400),
                },
            }
        },
        f"{PREFIX}/timers/delete": {
            "post": {
                "operationId": "tether_delete_timers",
                "tags": [tag],
                "summary": "Delete reminders by name (all must exist) or by name prefix",
                "parameters": [app],
                "requestBody": _object_body(
                    {
                        "names": {"type": "array", "items": {"type": "string"}},
                        "prefix": {
                            "type": "string",
                            "minLength": 1,
                            "description": "workflow/<app>[/<instance>], or all",
                        },
                    },
                    required=True,
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deleted"],
                            "properties": {
                                "deleted": {"type": "array", "items": {"type": "string"}}
                            },
                        },
                        "The names of the reminders deleted.",
                    ),
                    **_errors(400),
                },
            }
        },
        f"{PREFIX}/timers/export": {
            "get": {
                "operationId": "tether_export_timers",
                "tags": [tag],
                "summary": "Every pending reminder, in the `tether scheduler export` format",
                "parameters": [app],
                "responses": {
                    "200": _json(_ref("ReminderExport"), "The export document."),
                    **_errors(400),
                },
            }
        },
        f"{PREFIX}/timers/import": {
            "post": {
                "operationId": "tether_import_timers",
                "tags": [tag],
                "summary": "Restore exported reminders whose instances still wait for them",
                "parameters": [_query("appID", "Only this app's reminders from the document.")],
                "requestBody": export_body,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["imported", "skipped"],
                            "properties": {
                                "imported": {"type": "integer", "minimum": 0},
                                "skipped": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                        "How many were restored; why the others were skipped.",
                    ),
                    **_errors(400),
                },
            }
        },
    }


def _tether_paths() -> dict[str, Any]:
    tag = "tether"
    terminal = sorted(pb.STATUS_NAMES[s] for s in pb.TERMINAL_STATUSES)
    instance = _path_param("instanceID", "Workflow instance ID.")
    filters = _list_filters()
    return {
        f"{PREFIX}/counts": {
            "get": {
                "operationId": "tether_count_instances",
                "tags": [tag],
                "summary": "How many instances match the listing's filters, per status",
                "parameters": filters,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["counts"],
                            "properties": {
                                "counts": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer", "minimum": 0},
                                }
                            },
                        },
                        "Every status name with its count (zeros included).",
                    ),
                    **_errors(400),
                },
            }
        },
        f"{PREFIX}/instances": {
            "get": {
                "operationId": "tether_list_instances",
                "tags": [tag],
                "summary": "List instances with filters, a sort and cursor paging",
                "parameters": [
                    *filters,
                    _query("cursor", "`nextCursor` of the previous page (with the same sort)."),
                    _query(
                        "limit",
                        f"Page size (default 100, at most {MAX_PAGE}).",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    ),
                    _query(
                        "details",
                        "Return each instance's full document (as GET /instances/{instanceID}) "
                        "instead of its summary (default false).",
                        {"type": "boolean"},
                    ),
                ],
                "responses": {
                    "200": _json(_ref("InstanceList"), "One page of instances."),
                    **_errors(400),
                },
            }
        },
        f"{PREFIX}/instances/{{instanceID}}": {
            "get": {
                "operationId": "tether_get_instance",
                "tags": [tag],
                "summary": "One instance, tether's full view (STALLED and stall reason included)",
                "parameters": [instance],
                "responses": {
                    "200": _json(_ref("InstanceDetail"), "The instance."),
                    **_errors(400, 404),
                },
            }
        },
        f"{PREFIX}/instances/{{instanceID}}/history": {
            "get": {
                "operationId": "tether_history",
                "tags": [tag],
                "summary": "An instance's history as JSON",
                "parameters": [
                    instance,
                    _query(
                        "includePayloads",
                        "Keep inputs and results in `details` (default false).",
                        {"type": "boolean"},
                    ),
                ],
                "responses": {
                    "200": _json(_ref("History"), "The history, oldest first."),
                    **_errors(400, 404),
                },
            }
        },
        f"{PREFIX}/instances/{{instanceID}}/rerun": {
            "post": {
                "operationId": "tether_rerun",
                "tags": [tag],
                "summary": "Rerun a terminal instance from one of its events into a new instance",
                "parameters": [instance],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("RerunRequest")}},
                },
                "responses": {
                    "202": _json(_ref("StartResponse"), "The new instance was created."),
                    **_errors(400, 404, 409, 503),
                },
            }
        },
        f"{PREFIX}/instances/{{instanceID}}/purge": {
            "post": {
                "operationId": "tether_purge_instance",
                "tags": [tag],
                "summary": "Purge one instance (and, by default, its child workflows)",
                "description": "Without force only COMPLETED, FAILED and TERMINATED instances "
                "are purged. A forced purge of an instance that another live tether runs is "
                "refused (409): purge it through that tether.",
                "parameters": [instance],
                "requestBody": _object_body(
                    {"force": {"type": "boolean"}, "recursive": {"type": "boolean"}}
                ),
                "responses": {
                    "200": _json(_ref("PurgeResult"), "How many instances were purged."),
                    **_errors(400, 404, 409),
                },
            }
        },
        **_timer_paths(tag),
        f"{PREFIX}/purge": {
            "post": {
                "operationId": "tether_purge",
                "tags": [tag],
                "summary": "Purge this app's terminal instances matching a filter",
                "requestBody": _object_body(
                    {
                        "statuses": {
                            "type": "array",
                            "items": {"type": "string", "enum": terminal},
                        },
                        "createdAfter": {"type": "string", "format": "date-time"},
                        "createdBefore": {"type": "string", "format": "date-time"},
                        "recursive": {"type": "boolean"},
                    }
                ),
                "responses": {
                    "200": _json(_ref("PurgeResult"), "How many instances were purged."),
                    **_errors(400, 409),
                },
            }
        },
        OPENAPI_PATH: {
            "get": {
                "operationId": "tether_openapi",
                "tags": [tag],
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document."), **_errors()},
            }
        },
    }


def build_openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for version in DAPR_VERSIONS:
        paths.update(_dapr_paths(version))
    for version in DAPR_VERSIONS:
        paths.update(_health_paths(version))
    paths.update(_tether_paths())
    paths.update(metrics_paths())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tether HTTP API",
            "version": __version__,
            "description": (
                "The Dapr workflow HTTP API (identical under v1.0, v1.0-beta1 and v1.0-alpha1), "
                "health and metadata, and tether's own management routes under /tether/v1. "
                'Errors are `{"errorCode", "message"}`. When the sidecar has an API token, '
                "every route but the health checks needs it in the `dapr-api-token` header."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": {"Error": _json(_ref("Error"), "An error.")},
            "securitySchemes": {
                "daprApiToken": {"type": "apiKey", "in": "header", "name": "dapr-api-token"}
            },
        },
        "security": [{}, {"daprApiToken": []}],
    }
