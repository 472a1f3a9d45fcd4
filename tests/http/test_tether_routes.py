"""tether's own routes under /tether/v1: listing with filters and paging, instance detail,
history, rerun from an event, bulk purge, and the OpenAPI document."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.http.conftest import DAPR_VERSIONS, Api
from tests.http.conftest import api_error as _error


def _now() -> str:
    # A little slack for clock granularity between this process and the sidecar.
    return (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()


def _completed_hello(api: Api, name: str) -> str:
    instance_id = api.start("hello", json.dumps(name))
    api.wait_status(instance_id, "COMPLETED")
    return instance_id


def test_list_with_filters_and_cursor_paging(api: Api) -> None:
    since = _now()
    ids = sorted(_completed_hello(api, f"p{i}") for i in range(5))
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"name": "hello", "createdAfter": since, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = api.http.get("/tether/v1/instances", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([i["instanceID"] for i in body["instances"]])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == ids
    entry = api.http.get(
        "/tether/v1/instances", params={"name": "hello", "createdAfter": since, "limit": 1}
    ).json()["instances"][0]
    assert entry["runtimeStatus"] == "COMPLETED"
    assert entry["appID"] == "httpapp"
    assert entry["parentInstanceID"] is None
    # Status filters: repeated or comma-separated, case-insensitive.
    for params in (
        {"status": ["COMPLETED", "FAILED"]},
        {"status": "completed,failed"},
    ):
        r = api.http.get(
            "/tether/v1/instances", params={**params, "createdAfter": since, "name": "hello"}
        )
        assert sorted(i["instanceID"] for i in r.json()["instances"]) == ids
    r = api.http.get("/tether/v1/instances", params={"status": "RUNNING", "createdAfter": since})
    assert all(i["runtimeStatus"] == "RUNNING" for i in r.json()["instances"])
    assert not set(ids) & {i["instanceID"] for i in r.json()["instances"]}
    # createdBefore excludes everything made after the bound.
    r = api.http.get("/tether/v1/instances", params={"createdBefore": since, "name": "hello"})
    assert not set(ids) & {i["instanceID"] for i in r.json()["instances"]}
    # All apps.
    r = api.http.get("/tether/v1/instances", params={"appID": "*", "createdAfter": since})
    assert set(ids) <= {i["instanceID"] for i in r.json()["instances"]}


def test_list_sorts_by_time_pages_by_keyset_and_counts(api: Api) -> None:
    since = _now()
    prefix = f"srt{uuid.uuid4().hex[:6]}"
    ids = [api.start("hello", json.dumps(i), instance_id=f"{prefix}-{i}") for i in range(4)]
    for instance_id in ids:
        api.wait_status(instance_id, "COMPLETED")
    failed = api.start("boom", "null", instance_id=f"{prefix}-boom")
    api.wait_status(failed, "FAILED")
    by_created = [
        i["instanceID"]
        for i in api.http.get(
            "/tether/v1/instances", params={"idPrefix": prefix, "sort": "createdAt"}
        ).json()["instances"]
    ]
    assert by_created == [*ids, failed]
    # Newest first, two per page: the cursor carries the sort key, so pages join up exactly.
    pages: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"idPrefix": prefix, "sort": "updatedAt", "order": "desc"}
        params["limit"] = 2
        if cursor:
            params["cursor"] = cursor
        body = api.http.get("/tether/v1/instances", params=params).json()
        pages += [i["instanceID"] for i in body["instances"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    updated = {
        i: api.http.get(f"/tether/v1/instances/{i}").json()["lastUpdatedAt"] for i in pages
    }
    assert sorted(pages) == sorted(by_created)
    assert [updated[i] for i in pages] == sorted(updated.values(), reverse=True)
    # Details on request; an update-time window.
    detailed = api.http.get(
        "/tether/v1/instances", params={"idPrefix": prefix, "details": "true", "status": "FAILED"}
    ).json()["instances"]
    assert [d["failure"]["errorType"] for d in detailed] == ["ValueError"]
    later = api.http.get(
        "/tether/v1/instances", params={"idPrefix": prefix, "updatedAfter": since}
    ).json()["instances"]
    assert len(later) == 5
    # Counts per status, with the listing's filters.
    counts = api.http.get("/tether/v1/counts", params={"idPrefix": prefix}).json()["counts"]
    assert counts["COMPLETED"] == 4 and counts["FAILED"] == 1 and counts["RUNNING"] == 0
    assert set(counts) >= {"PENDING", "SUSPENDED", "STALLED", "TERMINATED"}
    # A cursor from another sort is refused.
    message = _error(
        api.http.get("/tether/v1/instances", params={"sort": "createdAt", "cursor": ids[0]}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    assert "cursor" in message
    _error(
        api.http.get("/tether/v1/instances", params={"sort": "size"}), 400, "ERR_INVALID_ARGUMENT"
    )


def test_list_filter_by_parent(api: Api) -> None:
    parent = api.start("parent", "null")
    child = f"{parent}-child"
    wait_until(lambda: api.status(child) == "RUNNING")
    r = api.http.get("/tether/v1/instances", params={"parent": parent})
    children = r.json()["instances"]
    assert [c["instanceID"] for c in children] == [child]
    assert children[0]["parentInstanceID"] == parent
    api.http.post(f"/v1.0/workflows/dapr/{parent}/terminate")
    api.wait_status(child, "TERMINATED")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "BOGUS"}, "unknown status"),
        ({"limit": "0"}, "outside"),
        ({"limit": "lots"}, "whole number"),
        ({"limit": "1001"}, "outside"),
        ({"createdAfter": "yesterday"}, "RFC 3339"),
        ({"createdBefore": "2025-13-01"}, "RFC 3339"),
    ],
)
def test_list_rejects_bad_filters(api: Api, params: dict[str, str], fragment: str) -> None:
    message = _error(
        api.http.get("/tether/v1/instances", params=params), 400, "ERR_INVALID_ARGUMENT"
    )
    assert fragment in message
    _error(
        api.http.get("/tether/v1/instances", params={"appID": "bad app"}),
        400,
        "ERR_WORKFLOW_APP_ID_INVALID",
    )


def test_instance_detail(api: Api) -> None:
    failed = api.start("boom", "null")
    api.wait_status(failed, "FAILED")
    body = api.http.get(f"/tether/v1/instances/{failed}").json()
    assert body["runtimeStatus"] == "FAILED"
    assert body["failure"]["errorType"] == "ValueError"
    assert body["input"] == "null" and body["output"] is None
    assert body["stall"] is None
    _error(api.http.get("/tether/v1/instances/nope"), 404, "ERR_INSTANCE_ID_NOT_FOUND")
    _error(api.http.post("/tether/v1/instances/nope"), 405, "ERR_METHOD_NOT_ALLOWED")
    _error(api.http.get("/tether/v1/instances/nope/explode"), 404, "ERR_NOT_FOUND")


def test_history(api: Api) -> None:
    instance_id = _completed_hello(api, "hist")
    r = api.http.get(f"/tether/v1/instances/{instance_id}/history")
    assert r.status_code == 200
    body = r.json()
    assert body["instanceID"] == instance_id
    events = body["events"]
    types = [e["type"] for e in events]
    assert "executionStarted" in types and types[-1] == "executionCompleted"
    started = events[types.index("executionStarted")]
    assert started["name"] == "hello"
    assert started["payloadSize"] == len('"hist"')
    assert "input" not in started["details"]
    scheduled = events[types.index("taskScheduled")]
    assert scheduled["name"] == "greet" and scheduled["eventId"] >= 0
    completed = events[types.index("taskCompleted")]
    assert completed["details"]["taskScheduledId"] == scheduled["eventId"]
    assert completed["payloadSize"] == len('"Hello hist"')
    for event in events:
        assert event["timestamp"].endswith("Z")
    full = api.http.get(
        f"/tether/v1/instances/{instance_id}/history", params={"includePayloads": "true"}
    ).json()["events"]
    assert full[types.index("executionStarted")]["details"]["input"] == '"hist"'
    _error(api.http.get("/tether/v1/instances/nope/history"), 404, "ERR_INSTANCE_ID_NOT_FOUND")
    _error(
        api.http.get(
            f"/tether/v1/instances/{instance_id}/history", params={"includePayloads": "x"}
        ),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(
        api.http.post(f"/tether/v1/instances/{instance_id}/history"), 405, "ERR_METHOD_NOT_ALLOWED"
    )


def test_rerun_from_an_activity(api: Api) -> None:
    source = _completed_hello(api, "orig")
    events = api.http.get(f"/tether/v1/instances/{source}/history").json()["events"]
    scheduled = next(e for e in events if e["type"] == "taskScheduled")
    new_id = f"{source}-rerun"
    r = api.http.post(
        f"/tether/v1/instances/{source}/rerun",
        json={
            "eventID": scheduled["eventId"],
            "newInstanceID": new_id,
            "input": '"again"',
            "overwriteInput": True,
        },
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"instanceID": new_id}
    body = api.wait_status(new_id, "COMPLETED")
    assert body["properties"]["dapr.workflow.output"] == '"Hello again"'
    rerun_events = api.http.get(f"/tether/v1/instances/{new_id}/history").json()["events"]
    target = next(e for e in rerun_events if e["type"] == "taskScheduled")
    assert target["details"]["rerunParentInstanceInfo"] == {"instanceID": source}
    # Without a new ID a UUID is chosen; the source is untouched.
    r = api.http.post(
        f"/tether/v1/instances/{source}/rerun", json={"eventID": scheduled["eventId"]}
    )
    assert r.status_code == 202
    api.wait_status(r.json()["instanceID"], "COMPLETED")
    assert api.get(source).json()["properties"]["dapr.workflow.output"] == '"Hello orig"'

    # Preconditions and bad requests.
    rerun = f"/tether/v1/instances/{source}/rerun"
    _error(
        api.http.post(rerun, json={"eventID": scheduled["eventId"], "newInstanceID": new_id}),
        409,
        "ERR_ALREADY_EXISTS",
    )
    _error(api.http.post(rerun, json={"eventID": 999}), 404, "ERR_NOT_FOUND")
    _error(api.http.post(rerun, json={}), 400, "ERR_INVALID_ARGUMENT")
    _error(api.http.post(rerun, json={"eventID": "1"}), 400, "ERR_INVALID_ARGUMENT")
    _error(api.http.post(rerun, json={"eventID": -1}), 400, "ERR_INVALID_ARGUMENT")
    _error(api.http.post(rerun, json={"eventID": 0, "bogus": 1}), 400, "ERR_INVALID_ARGUMENT")
    _error(
        api.http.post(rerun, json={"eventID": 0, "newInstanceID": "a b"}),
        400,
        "ERR_INSTANCE_ID_INVALID",
    )
    _error(
        api.http.post(rerun, json={"eventID": 0, "newInstanceID": source}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(api.http.post(rerun, content=b"[1]"), 400, "ERR_BODY_READ")
    _error(api.http.post(rerun, content=b"{nope"), 400, "ERR_BODY_READ")
    _error(
        api.http.post("/tether/v1/instances/nope/rerun", json={"eventID": 1}), 404, "ERR_NOT_FOUND"
    )
    running = api.start("waiter", "null")
    api.wait_status(running, "RUNNING")
    message = _error(
        api.http.post(f"/tether/v1/instances/{running}/rerun", json={"eventID": 1}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    assert "terminal" in message
    _error(api.http.get(rerun), 405, "ERR_METHOD_NOT_ALLOWED")
    api.http.post(f"/v1.0/workflows/dapr/{running}/terminate")


def test_bulk_purge(api: Api) -> None:
    since = _now()
    done = [_completed_hello(api, f"bulk{i}") for i in range(3)]
    failed = api.start("boom", "null")
    api.wait_status(failed, "FAILED")
    running = api.start("waiter", "null")
    api.wait_status(running, "RUNNING")

    _error(
        api.http.post("/tether/v1/purge", json={"statuses": ["RUNNING"]}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(
        api.http.post("/tether/v1/purge", json={"statuses": "COMPLETED"}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(
        api.http.post("/tether/v1/purge", json={"createdAfter": "soon"}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(
        api.http.post("/tether/v1/purge", json={"recursive": "yes"}), 400, "ERR_INVALID_ARGUMENT"
    )
    _error(
        api.http.post("/tether/v1/purge", json={"everything": True}), 400, "ERR_INVALID_ARGUMENT"
    )
    _error(api.http.get("/tether/v1/purge"), 405, "ERR_METHOD_NOT_ALLOWED")

    r = api.http.post("/tether/v1/purge", json={"statuses": ["COMPLETED"], "createdAfter": since})
    assert r.status_code == 200, r.text
    assert r.json() == {"deletedInstanceCount": 3}
    for instance_id in done:
        assert api.get(instance_id).status_code == 404
    assert api.status(failed) == "FAILED"
    assert api.status(running) == "RUNNING"
    # No status filter: every terminal state, never a running one.
    r = api.http.post("/tether/v1/purge", json={"createdAfter": since})
    assert r.json() == {"deletedInstanceCount": 1}
    assert api.get(failed).status_code == 404
    assert api.status(running) == "RUNNING"
    api.http.post(f"/v1.0/workflows/dapr/{running}/terminate")
    api.wait_status(running, "TERMINATED")


def test_openapi_document_lists_every_route(api: Api) -> None:
    r = api.http.get("/tether/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for version in DAPR_VERSIONS:
        base = f"/{version}/workflows/{{component}}"
        assert "post" in paths[f"{base}/{{workflowName}}/start"]
        assert "get" in paths[f"{base}/{{instanceID}}"]
        for op in ("terminate", "pause", "resume", "purge"):
            assert "post" in paths[f"{base}/{{instanceID}}/{op}"]
        assert "post" in paths[f"{base}/{{instanceID}}/raiseEvent/{{eventName}}"]
        for path in ("healthz", "healthz/outbound", "metadata"):
            assert "get" in paths[f"/{version}/{path}"]
    for path in (
        "/tether/v1/instances",
        "/tether/v1/instances/{instanceID}",
        "/tether/v1/instances/{instanceID}/history",
        "/tether/v1/instances/{instanceID}/rerun",
        "/tether/v1/purge",
        "/tether/v1/openapi.json",
    ):
        assert path in paths
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
