"""/tether/v1/timers (pending reminders: list, delete, export, import) and the purge of one
instance, over a socket against a real tether with a worker."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.conftest import wait_until
from tests.http.conftest import Api
from tests.http.conftest import api_error as _error


def _timers(api: Api, **params: Any) -> list[dict[str, Any]]:
    r = api.http.get("/tether/v1/timers", params=params)
    assert r.status_code == 200, r.text
    timers: list[dict[str, Any]] = r.json()["timers"]
    return timers


def _sleeping(api: Api, seconds: float) -> tuple[str, str]:
    instance_id = api.start("sleeper", json.dumps(seconds), f"slp-{uuid.uuid4().hex[:10]}")
    name = f"workflow/httpapp/{instance_id}/timer-1"
    wait_until(lambda: name in {t["name"] for t in _timers(api)})
    return instance_id, name


def test_list_delete_export_and_import_reminders(api: Api) -> None:
    instance_id, name = _sleeping(api, 3600)
    (timer,) = _timers(api, name=name)
    assert timer["type"] == "timer" and timer["instanceID"] == instance_id
    assert timer["appID"] == "httpapp" and timer["timerID"] == 1
    assert _timers(api, appID="*", name=name) == [timer]
    assert _timers(api, appID="elsewhere") == []
    _error(
        api.http.get("/tether/v1/timers", params={"name": "workflow/x/y/timer-1"}),
        404,
        "ERR_REMINDER_NOT_FOUND",
    )

    export = api.http.get("/tether/v1/timers/export").json()
    assert export["format"] == "tether-scheduler-export" and export["version"] == 1
    mine = [r for r in export["reminders"] if r["instanceID"] == instance_id]
    assert len(mine) == 1

    r = api.http.post("/tether/v1/timers/delete", json={"names": [name]})
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": [name]}
    assert name not in {t["name"] for t in _timers(api)}
    # Deleting what is gone: by name a 404 (nothing deleted), by prefix nothing matches.
    _error(
        api.http.post("/tether/v1/timers/delete", json={"names": [name]}),
        404,
        "ERR_REMINDER_NOT_FOUND",
    )
    r = api.http.post(
        "/tether/v1/timers/delete", json={"prefix": f"workflow/httpapp/{instance_id}"}
    )
    assert r.json() == {"deleted": []}

    document = dict(export, reminders=mine)
    r = api.http.post("/tether/v1/timers/import", json=document)
    assert r.status_code == 200, r.text
    assert r.json() == {"imported": 1, "skipped": []}
    assert name in {t["name"] for t in _timers(api)}
    r = api.http.post("/tether/v1/timers/import", json=document)
    assert r.json()["imported"] == 0 and "already scheduled" in r.json()["skipped"][0]
    # By prefix as well; the instance itself is untouched.
    r = api.http.post(
        "/tether/v1/timers/delete", json={"prefix": f"workflow/httpapp/{instance_id}"}
    )
    assert r.json() == {"deleted": [name]}
    assert api.status(instance_id) == "RUNNING"


def test_a_restored_timer_fires_and_a_deleted_one_does_not(api: Api) -> None:
    instance_id, name = _sleeping(api, 6)
    export = api.http.get("/tether/v1/timers/export").json()
    mine = [r for r in export["reminders"] if r["instanceID"] == instance_id]
    deleted = api.http.post("/tether/v1/timers/delete", json={"names": [name]}).json()
    assert deleted == {"deleted": [name]}
    # Well past the fire time the instance still sleeps: the tether forgot the timer at once.
    first = mine[0]["visibleAt"] / 1e9
    wait_until(lambda: time.time() > first + 1.5, timeout=10, interval=0.05)
    assert api.status(instance_id) == "RUNNING"
    r = api.http.post("/tether/v1/timers/import", json=dict(export, reminders=mine))
    assert r.json() == {"imported": 1, "skipped": []}
    api.wait_status(instance_id, "COMPLETED")


def test_bad_reminder_requests(api: Api) -> None:
    for body in ({}, {"names": ["a"], "prefix": "all"}, {"names": "a"}, {"prefix": ""}, {"x": 1}):
        _error(api.http.post("/tether/v1/timers/delete", json=body), 400, "ERR_INVALID_ARGUMENT")
    for body in (
        {},
        {"format": "tether-scheduler-export", "version": 2, "reminders": []},
        {"format": "tether-scheduler-export", "version": 1, "reminders": [{"appID": "a"}]},
        {
            "format": "tether-scheduler-export",
            "version": 1,
            "reminders": [
                {"appID": "a", "instanceID": "b", "visibleAt": 1, "order": 1, "event": "!!"}
            ],
        },
    ):
        _error(api.http.post("/tether/v1/timers/import", json=body), 400, "ERR_INVALID_ARGUMENT")
    _error(
        api.http.get("/tether/v1/timers", params={"appID": "bad app"}),
        400,
        "ERR_WORKFLOW_APP_ID_INVALID",
    )


def test_purge_one_instance(api: Api) -> None:
    waiting = api.start("waiter", "null")
    api.wait_status(waiting, "RUNNING")
    r = api.http.post(f"/tether/v1/instances/{waiting}/purge")
    assert "COMPLETED, FAILED or TERMINATED" in _error(r, 409, "ERR_FAILED_PRECONDITION")
    r = api.http.post(f"/tether/v1/instances/{waiting}/purge", json={"force": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"deletedInstanceCount": 1}
    assert api.status(waiting) is None  # gone for the running tether at once
    _error(api.http.post(f"/tether/v1/instances/{waiting}/purge"), 404, "ERR_INSTANCE_ID_NOT_FOUND")
    _error(
        api.http.post(f"/tether/v1/instances/{waiting}/purge", json={"force": "yes"}),
        400,
        "ERR_INVALID_ARGUMENT",
    )
    _error(api.http.get(f"/tether/v1/instances/{waiting}/purge"), 405, "ERR_METHOD_NOT_ALLOWED")
    # Recursive by default: the child goes with its parent.
    parent = api.start("parent", "null")
    api.wait_status(f"{parent}-child", "RUNNING")
    r = api.http.post(f"/tether/v1/instances/{parent}/purge", json={"force": True})
    assert r.json() == {"deletedInstanceCount": 2}
    assert api.status(f"{parent}-child") is None
