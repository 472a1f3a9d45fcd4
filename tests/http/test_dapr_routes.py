"""The Dapr workflow HTTP API over a real socket against a real ``tether serve`` with an
official-SDK worker: every route under all three path versions, the documented JSON shapes and
every documented error code (engine-semantics §6.3)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.conftest import wait_until
from tests.http.conftest import DAPR_VERSIONS, Api

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def _error(r: object, status: int, code: str) -> dict[str, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, str] = r.json()
    assert body["errorCode"] == code, body
    assert set(body) == {"errorCode", "message"}
    return body


# -- health and metadata -----------------------------------------------------------------------
@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_health_and_metadata(api: Api, version: str) -> None:
    assert api.http.get(f"/{version}/healthz").status_code == 204
    assert api.http.get(f"/{version}/healthz/outbound").status_code == 204
    r = api.http.get(f"/{version}/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "httpapp"
    assert body["runtimeVersion"].startswith("tether ")
    assert body["store"] == "sqlite"
    assert body["connectedWorkers"] >= 1
    assert body["workflows"] == {"connectedWorkers": body["connectedWorkers"]}


# -- start / get -------------------------------------------------------------------------------
@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_start_and_get_completed(api: Api, version: str) -> None:
    instance_id = api.start("hello", '"World"', version=version)
    body = api.wait_status(instance_id, "COMPLETED")
    r = api.get(instance_id, version=version)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == [
        "instanceID",
        "workflowName",
        "createdAt",
        "lastUpdatedAt",
        "runtimeStatus",
        "properties",
    ]
    assert body["instanceID"] == instance_id
    assert body["workflowName"] == "hello"
    assert RFC3339.match(body["createdAt"]) and RFC3339.match(body["lastUpdatedAt"])
    assert body["createdAt"] <= body["lastUpdatedAt"]
    assert body["runtimeStatus"] == "COMPLETED"
    assert body["properties"] == {
        "dapr.workflow.input": '"World"',
        "dapr.workflow.output": '"Hello World"',
    }


@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_start_without_instance_id_generates_uuid(api: Api, version: str) -> None:
    r = api.http.post(f"/{version}/workflows/dapr/hello/start", content='"anon"')
    assert r.status_code == 202, r.text
    instance_id = r.json()["instanceID"]
    assert str(uuid.UUID(instance_id)) == instance_id
    assert api.wait_status(instance_id, "COMPLETED")["properties"]["dapr.workflow.output"] == (
        '"Hello anon"'
    )


def test_async_request_reply(api: Api) -> None:
    """The async HTTP pattern: start, answer 202 at once, the client polls until done."""
    r = api.http.post("/v1.0/workflows/dapr/hello/start", content=json.dumps("poller"))
    assert r.status_code == 202
    instance_id = r.json()["instanceID"]
    seen: list[str] = []

    def done() -> dict[str, object] | None:
        body = api.get(instance_id).json()
        seen.append(body["runtimeStatus"])
        return body if body["runtimeStatus"] == "COMPLETED" else None

    body = wait_until(done)
    assert set(seen) <= {"PENDING", "RUNNING", "COMPLETED"}
    assert json.loads(body["properties"]["dapr.workflow.output"]) == "Hello poller"


def test_start_body_is_stored_verbatim(api: Api) -> None:
    raw = '{ "b" : 2,\n  "a": [1, 2.50] }'
    instance_id = api.start("waiter", raw)
    body = api.wait_status(instance_id, "RUNNING")
    assert body["properties"]["dapr.workflow.input"] == raw
    assert body["properties"]["dapr.workflow.custom_status"] == "waiting"
    # Empty body: an empty input, still reported.
    empty = api.start("waiter", "")
    assert api.wait_status(empty, "RUNNING")["properties"]["dapr.workflow.input"] == ""
    for done in (instance_id, empty):
        assert api.http.post(f"/v1.0/workflows/dapr/{done}/terminate").status_code == 202


def test_failed_instance_properties(api: Api) -> None:
    instance_id = api.start("boom", "null")
    body = api.wait_status(instance_id, "FAILED")
    props = body["properties"]
    assert props["dapr.workflow.failure.error_type"] == "ValueError"
    assert props["dapr.workflow.failure.error_message"] == "kaput"
    assert "kaput" in props["dapr.workflow.failure.stack_trace"]
    assert "dapr.workflow.output" not in props
    assert props["dapr.workflow.input"] == "null"


def test_start_is_idempotent_for_an_active_instance(api: Api) -> None:
    instance_id = api.start("waiter", '"first"')
    api.wait_status(instance_id, "RUNNING")
    assert api.start("waiter", '"second"', instance_id=instance_id) == instance_id
    assert api.get(instance_id).json()["properties"]["dapr.workflow.input"] == '"first"'
    r = api.http.post(
        "/v1.0/workflows/dapr/hello/start", params={"instanceID": instance_id}, content='"x"'
    )
    body = _error(r, 500, "ERR_START_WORKFLOW")
    assert body["message"].startswith("error starting workflow 'hello': ")
    assert instance_id in body["message"]
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/terminate").status_code == 202
    api.wait_status(instance_id, "TERMINATED")


# -- the seed's sequence -------------------------------------------------------------------------
@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_seed_curl_sequence(api: Api, version: str) -> None:
    """start 12345678 → get → pause → resume → raiseEvent → terminate → purge → get is 404."""
    base = f"/{version}/workflows/dapr"
    r = api.http.post(
        f"{base}/OrderProcessingWorkflow/start?instanceID=12345678", content='{"item": "book"}'
    )
    assert r.status_code == 202 and r.json() == {"instanceID": "12345678"}
    body = api.wait_custom_status("12345678", "awaiting approval")
    assert body["workflowName"] == "OrderProcessingWorkflow"
    assert body["runtimeStatus"] == "RUNNING"

    r = api.http.post(f"{base}/12345678/pause")
    assert (r.status_code, r.json()) == (202, {})
    api.wait_status("12345678", "SUSPENDED")
    r = api.http.post(f"{base}/12345678/resume")
    assert (r.status_code, r.json()) == (202, {})
    api.wait_status("12345678", "RUNNING")

    r = api.http.post(f"{base}/12345678/raiseEvent/approval", content='"yes"')
    assert (r.status_code, r.json()) == (202, {})
    api.wait_custom_status("12345678", "approved: yes")

    r = api.http.post(f"{base}/12345678/terminate")
    assert (r.status_code, r.json()) == (202, {})
    body = api.wait_status("12345678", "TERMINATED")
    assert "dapr.workflow.output" not in body.get("properties", {})

    r = api.http.post(f"{base}/12345678/purge")
    assert (r.status_code, r.json()) == (202, {})
    _error(api.http.get(f"{base}/12345678"), 404, "ERR_INSTANCE_ID_NOT_FOUND")


@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_raise_event_completes_waiter(api: Api, version: str) -> None:
    instance_id = api.start("waiter", "null", version=version)
    api.wait_status(instance_id, "RUNNING")
    r = api.http.post(f"/{version}/workflows/dapr/{instance_id}/raiseEvent/GO", content='{"x": 1}')
    assert (r.status_code, r.json()) == (202, {})
    body = api.wait_status(instance_id, "COMPLETED")
    assert json.loads(body["properties"]["dapr.workflow.output"]) == {"got": {"x": 1}}


def test_event_while_paused_is_held_until_resume(api: Api) -> None:
    instance_id = api.start("waiter", "null")
    api.wait_status(instance_id, "RUNNING")
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/pause").status_code == 202
    api.wait_status(instance_id, "SUSPENDED")
    assert (
        api.http.post(f"/v1.0/workflows/dapr/{instance_id}/raiseEvent/go", content="7").status_code
        == 202
    )
    assert api.status(instance_id) == "SUSPENDED"
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/resume").status_code == 202
    body = api.wait_status(instance_id, "COMPLETED")
    assert body["properties"]["dapr.workflow.output"] == '{"got": 7}'


def test_terminate_while_paused(api: Api) -> None:
    instance_id = api.start("waiter", "null")
    api.wait_status(instance_id, "RUNNING")
    api.http.post(f"/v1.0/workflows/dapr/{instance_id}/pause")
    api.wait_status(instance_id, "SUSPENDED")
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/terminate").status_code == 202
    api.wait_status(instance_id, "TERMINATED")
    # Terminating a terminal instance is fine and changes nothing.
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/terminate").status_code == 202
    assert api.status(instance_id) == "TERMINATED"


def test_terminate_and_purge_are_recursive(api: Api) -> None:
    parent = api.start("parent", "null")
    child = f"{parent}-child"
    wait_until(lambda: api.status(child) == "RUNNING")
    assert api.status(parent) == "RUNNING"
    assert api.http.post(f"/v1.0/workflows/dapr/{parent}/terminate").status_code == 202
    api.wait_status(parent, "TERMINATED")
    api.wait_status(child, "TERMINATED")
    assert api.http.post(f"/v1.0/workflows/dapr/{parent}/purge").status_code == 202
    assert api.get(parent).status_code == 404
    assert api.get(child).status_code == 404


def test_purge_of_running_instance_is_refused_and_harmless(api: Api) -> None:
    instance_id = api.start("waiter", "null")
    api.wait_status(instance_id, "RUNNING")
    body = _error(
        api.http.post(f"/v1.0/workflows/dapr/{instance_id}/purge"), 500, "ERR_PURGE_WORKFLOW"
    )
    assert body["message"].startswith(f"error purging workflow {instance_id}: ")
    assert "RUNNING" in body["message"]
    # Unharmed: still running, history intact, and it completes normally.
    assert api.status(instance_id) == "RUNNING"
    history = api.http.get(f"/tether/v1/instances/{instance_id}/history").json()["events"]
    assert history[0]["type"] in ("workflowStarted", "executionStarted")
    api.http.post(f"/v1.0/workflows/dapr/{instance_id}/raiseEvent/go", content='"ok"')
    assert api.wait_status(instance_id, "COMPLETED")["properties"]["dapr.workflow.output"] == (
        '{"got": "ok"}'
    )
    assert api.http.post(f"/v1.0/workflows/dapr/{instance_id}/purge").status_code == 202
    assert api.get(instance_id).status_code == 404


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_unknown_instance(api: Api, version: str) -> None:
    base = f"/{version}/workflows/dapr"
    for r in (
        api.http.get(f"{base}/no-such-id"),
        api.http.post(f"{base}/no-such-id/terminate"),
        api.http.post(f"{base}/no-such-id/purge"),
    ):
        body = _error(r, 404, "ERR_INSTANCE_ID_NOT_FOUND")
        assert body["message"] == (
            "unable to find workflow with the provided instance ID: no-such-id"
        )
    # daprd answers these with 500 and the operation's code.
    for path, code, prefix in (
        (
            "raiseEvent/ev",
            "ERR_RAISE_EVENT_WORKFLOW",
            "error raising event on workflow 'no-such-id': ",
        ),
        ("pause", "ERR_PAUSE_WORKFLOW", "error pausing workflow no-such-id: "),
        ("resume", "ERR_RESUME_WORKFLOW", "error resuming workflow no-such-id: "),
    ):
        body = _error(api.http.post(f"{base}/no-such-id/{path}"), 500, code)
        assert body["message"].startswith(prefix)
    assert api.get("no-such-id").status_code == 404  # nothing was created


@pytest.mark.parametrize("version", DAPR_VERSIONS)
@pytest.mark.parametrize(
    ("instance_id", "code"),
    [
        ("a.b", "ERR_INSTANCE_ID_INVALID"),
        ("has space", "ERR_INSTANCE_ID_INVALID"),
        ("slash/inside", "ERR_INSTANCE_ID_INVALID"),
        ("colon:child", "ERR_INSTANCE_ID_INVALID"),
        ("x" * 65, "ERR_INSTANCE_ID_TOO_LONG"),
        ("." * 65, "ERR_INSTANCE_ID_TOO_LONG"),
    ],
)
def test_start_rejects_bad_instance_ids(
    api: Api, version: str, instance_id: str, code: str
) -> None:
    r = api.http.post(
        f"/{version}/workflows/dapr/hello/start", params={"instanceID": instance_id}, content="1"
    )
    body = _error(r, 400, code)
    if code == "ERR_INSTANCE_ID_INVALID":
        assert body["message"] == (
            f"workflow instance ID '{instance_id}' is invalid: only alphanumeric and underscore "
            "characters are allowed"
        )
    else:
        assert body["message"] == "workflow instance ID exceeds the max length of 64 characters"
    assert api.http.get(f"/tether/v1/instances/{instance_id}").status_code == 404


def test_start_accepts_unicode_letters_and_64_chars(api: Api) -> None:
    for instance_id in ("Ünïcødé_ID-1", "y" * 64):
        api.start("hello", '"u"', instance_id=instance_id)
        api.wait_status(instance_id, "COMPLETED")


@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_missing_names_and_ids(api: Api, version: str) -> None:
    base = f"/{version}/workflows/dapr"
    _error(api.http.post(f"{base}//start"), 400, "ERR_WORKFLOW_NAME_MISSING")
    _error(api.http.get(f"{base}/"), 400, "ERR_INSTANCE_ID_PROVIDED_MISSING")
    for op in ("terminate", "pause", "resume", "purge", "raiseEvent/ev"):
        _error(api.http.post(f"{base}//{op}"), 400, "ERR_INSTANCE_ID_PROVIDED_MISSING")
    _error(api.http.post(f"{base}/some-id/raiseEvent/"), 400, "ERR_WORKFLOW_EVENT_NAME_MISSING")
    _error(api.http.post(f"{base}/some-id/raiseEvent"), 400, "ERR_WORKFLOW_EVENT_NAME_MISSING")


@pytest.mark.parametrize("version", DAPR_VERSIONS)
def test_app_id(api: Api, version: str) -> None:
    base = f"/{version}/workflows/dapr"
    for bad in ("", "has space", "-dash-first", "x" * 300):
        params = {"appID": bad}
        _error(
            api.http.post(f"{base}/hello/start", params=params), 400, "ERR_WORKFLOW_APP_ID_INVALID"
        )
        _error(api.http.get(f"{base}/any", params=params), 400, "ERR_WORKFLOW_APP_ID_INVALID")
        _error(
            api.http.post(f"{base}/any/terminate", params=params),
            400,
            "ERR_WORKFLOW_APP_ID_INVALID",
        )
        _error(
            api.http.post(f"{base}/any/raiseEvent/e", params=params),
            400,
            "ERR_WORKFLOW_APP_ID_INVALID",
        )
    # Our own app ID is the same as none.
    r = api.http.post(f"{base}/hello/start", params={"appID": "httpapp"}, content='"me"')
    assert r.status_code == 202
    mine = r.json()["instanceID"]
    assert api.wait_status(mine, "COMPLETED")["properties"]["dapr.workflow.output"] == '"Hello me"'
    # Another app: the instance is created for that app (no worker of it runs here, so it
    # waits); every other route reaches it through the shared store.
    other = f"other-{uuid.uuid4().hex[:8]}"
    r = api.http.post(
        f"{base}/remote_wf/start", params={"appID": "otherapp", "instanceID": other}, content="1"
    )
    assert r.status_code == 202
    r = api.http.get(f"{base}/{other}", params={"appID": "otherapp"})
    assert r.status_code == 200 and r.json()["runtimeStatus"] == "PENDING"
    listed = api.http.get("/tether/v1/instances", params={"appID": "otherapp"}).json()
    entry = next(i for i in listed["instances"] if i["instanceID"] == other)
    assert entry["appID"] == "otherapp"
    assert all(i["appID"] == "otherapp" for i in listed["instances"])
    r = api.http.post(f"{base}/{other}/raiseEvent/e", params={"appID": "otherapp"}, content="1")
    assert r.status_code == 202
    assert api.http.post(f"{base}/{other}/purge", params={"appID": "otherapp"}).status_code == 500


def test_body_read_errors(api: Api) -> None:
    r = api.http.post("/v1.0/workflows/dapr/hello/start", content=b"\xff\xfe not utf-8")
    body = _error(r, 400, "ERR_BODY_READ")
    assert "UTF-8" in body["message"]
    r = api.http.post("/v1.0/workflows/dapr/some-id/raiseEvent/e", content=b"\xc3")
    _error(r, 400, "ERR_BODY_READ")


def test_percent_encoded_ids_stay_one_segment(api: Api) -> None:
    body = _error(api.http.get("/v1.0/workflows/dapr/a%2Fb"), 404, "ERR_INSTANCE_ID_NOT_FOUND")
    assert body["message"].endswith(": a/b")


def test_unknown_routes_and_methods(api: Api) -> None:
    _error(api.http.post("/v1.0/workflows/dapr/x/explode"), 404, "ERR_NOT_FOUND")
    _error(api.http.post("/v1.0/workflows/dapr/x/raiseEvent/a/b"), 404, "ERR_NOT_FOUND")
    _error(api.http.post("/v1.0/workflows/dapr"), 404, "ERR_NOT_FOUND")
    _error(api.http.get("/v1.0/workflows/dapr/x/terminate"), 405, "ERR_METHOD_NOT_ALLOWED")
    _error(api.http.post("/v1.0/workflows/dapr/x"), 405, "ERR_METHOD_NOT_ALLOWED")
    _error(api.http.delete("/v1.0/workflows/dapr/x"), 405, "ERR_METHOD_NOT_ALLOWED")
    _error(api.http.get("/v2.0/workflows/dapr/x"), 404, "ERR_NOT_FOUND")
