"""Request-body limits (413) and how an oversized instance shows: STALLED, which Dapr's GET
renders as UNKNOWN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.http.conftest import check_store_integrity
from tether.testing import SidecarProcess

LIMIT = 4096


@pytest.fixture
def small(tmp_path: Path) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(
        tmp_path / "tether.db", app_id="small", extra_args=["--max-payload", str(LIMIT)]
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(1000, total - sent)
        sent += n
        yield b"x" * n


def test_oversized_bodies_are_refused(small: SidecarProcess) -> None:
    base = f"http://127.0.0.1:{small.http_port}"
    targets = [
        "/v1.0/workflows/dapr/wf/start?instanceID=big1",
        "/v1.0-alpha1/workflows/dapr/big1/raiseEvent/e",
        "/tether/v1/purge",
    ]
    for path in targets:
        # Declared by Content-Length.
        with httpx.Client(base_url=base) as http:
            r = http.post(path, content=b"x" * (LIMIT + 1))
        assert r.status_code == 413, r.text
        body = r.json()
        assert body["errorCode"] == "ERR_PAYLOAD_TOO_LARGE"
        assert str(LIMIT) in body["message"] and "--max-payload" in body["message"]
        # Streamed (chunked, no Content-Length).
        with httpx.Client(base_url=base) as http:
            r = http.post(path, content=_chunks(LIMIT + 500))
        assert r.status_code == 413, r.text
        assert r.json()["errorCode"] == "ERR_PAYLOAD_TOO_LARGE"
    with httpx.Client(base_url=base) as http:
        assert http.get("/v1.0/workflows/dapr/big1").status_code == 404
        # Chunked but under the limit is fine.
        r = http.post("/v1.0/workflows/dapr/wf/start?instanceID=ok1", content=_chunks(100))
        assert r.status_code == 202
        assert (
            http.get("/v1.0/workflows/dapr/ok1").json()["properties"]["dapr.workflow.input"]
            == "x" * 100
        )


def test_instance_over_the_work_item_limit_is_stalled(small: SidecarProcess) -> None:
    """An input at the HTTP limit makes a first work item over it: the instance stalls, and
    Dapr's view reports UNKNOWN while tether's reports STALLED with the reason."""
    base = f"http://127.0.0.1:{small.http_port}"
    payload = '"' + "y" * (LIMIT - 2) + '"'
    with httpx.Client(base_url=base) as http:
        r = http.post("/v1.0/workflows/dapr/wf/start?instanceID=stuck", content=payload)
        assert r.status_code == 202, r.text

        def stalled() -> bool:
            return http.get("/tether/v1/instances/stuck").json()["runtimeStatus"] == "STALLED"

        wait_until(stalled)
        dapr_view = http.get("/v1.0/workflows/dapr/stuck").json()
        assert dapr_view["runtimeStatus"] == "UNKNOWN"
        assert dapr_view["properties"]["dapr.workflow.input"] == payload
        ours = http.get("/tether/v1/instances/stuck").json()
        assert ours["stall"]["reason"] == "PAYLOAD_SIZE_EXCEEDED"
        listed = http.get("/tether/v1/instances", params={"status": "STALLED"}).json()
        assert [i["instanceID"] for i in listed["instances"]] == ["stuck"]
        # A stalled instance is not purgeable (Dapr's code on the Dapr route).
        r = http.post("/v1.0/workflows/dapr/stuck/purge")
        assert (r.status_code, r.json()["errorCode"]) == (500, "ERR_PURGE_WORKFLOW")
        # Terminate still works.
        assert http.post("/v1.0/workflows/dapr/stuck/terminate").status_code == 202
    small.stop()
    assert check_store_integrity(small.store_path) == []
