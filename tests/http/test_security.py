"""The API token on HTTP and gRPC, and the exposure warning of ``tether serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.conftest import wait_until
from tether.testing import SidecarProcess

TOKEN = "s3cret-token"
VERSIONS = ("v1.0", "v1.0-beta1", "v1.0-alpha1")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(
        tmp_path / "tether.db", app_id="secure", extra_args=["--api-token", TOKEN]
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _routes() -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for v in VERSIONS:
        base = f"/{v}/workflows/dapr"
        routes += [
            ("POST", f"{base}/hello/start"),
            ("GET", f"{base}/some-id"),
            ("POST", f"{base}/some-id/terminate"),
            ("POST", f"{base}/some-id/raiseEvent/e"),
            ("POST", f"{base}/some-id/pause"),
            ("POST", f"{base}/some-id/resume"),
            ("POST", f"{base}/some-id/purge"),
            ("GET", f"/{v}/metadata"),
        ]
    routes += [
        ("GET", "/tether/v1/instances"),
        ("GET", "/tether/v1/instances/some-id"),
        ("GET", "/tether/v1/instances/some-id/history"),
        ("POST", "/tether/v1/instances/some-id/rerun"),
        ("POST", "/tether/v1/purge"),
        ("GET", "/tether/v1/openapi.json"),
        ("GET", "/no/such/route"),
    ]
    return routes


def test_http_requires_the_token(secured: SidecarProcess) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{secured.http_port}") as http:
        for method, path in _routes():
            for headers in ({}, {"dapr-api-token": "wrong"}, {"dapr-api-token": ""}):
                r = http.request(method, path, headers=headers, content=b"{}")
                assert r.status_code == 401, (method, path, headers, r.text)
                body = r.json()
                assert body["errorCode"] == "ERR_UNAUTHENTICATED"
                assert "dapr-api-token" in body["message"]
            r = http.request(method, path, headers={"dapr-api-token": TOKEN}, content=b"{}")
            assert r.status_code != 401, (method, path, r.text)
        # Nothing was created by the refused starts.
        listed = http.get("/tether/v1/instances", headers={"dapr-api-token": TOKEN}).json()
        assert len(listed["instances"]) == 3  # one per version, from the authorised starts
        for v in VERSIONS:
            assert http.get(f"/{v}/healthz").status_code == 204
            assert http.get(f"/{v}/healthz/outbound").status_code == 204


def test_grpc_requires_the_token(secured: SidecarProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    import dapr.ext.workflow as wf
    from dapr.conf import settings

    def client() -> Any:
        return wf.DaprWorkflowClient(host="127.0.0.1", port=str(secured.grpc_port))

    for token in (None, "wrong"):
        monkeypatch.setattr(settings, "DAPR_API_TOKEN", token)
        with pytest.raises(grpc.RpcError) as info:
            client().schedule_new_workflow("hello", input="x")
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

    monkeypatch.setattr(settings, "DAPR_API_TOKEN", TOKEN)
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(secured.grpc_port))

    @runtime.workflow(name="hello")
    def hello(ctx: wf.DaprWorkflowContext, name: str) -> str:
        return f"Hello {name}"

    runtime.start()
    try:
        c = client()
        instance_id = c.schedule_new_workflow(hello, input="token")
        state = c.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state is not None and state.serialized_output == '"Hello token"'
        # The HTTP view of the same instance, with the token.
        r = httpx.get(
            f"http://127.0.0.1:{secured.http_port}/v1.0/workflows/dapr/{instance_id}",
            headers={"dapr-api-token": TOKEN},
        )
        assert r.json()["runtimeStatus"] == "COMPLETED"
    finally:
        runtime.shutdown()


def test_serve_warns_when_exposed_without_token(tmp_path: Path) -> None:
    proc = SidecarProcess(
        tmp_path / "tether.db", app_id="exposed", extra_args=["--listen-address", "0.0.0.0"]
    )
    proc.start()
    try:
        wait_until(lambda: "without an API token" in proc.log_path.read_text())
    finally:
        proc.stop()
