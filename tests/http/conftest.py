"""Fixtures for the HTTP API tests.

Most tests share one ``tether serve`` subprocess per module with one official-SDK worker (the
``api`` fixture): starting a sidecar takes seconds, and the HTTP routes are stateless over the
store. Tests that need their own sidecar (API token, size limits) use ``sidecar``/``wf_runtime``
from the root conftest or start a :class:`SidecarProcess` themselves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.http.workflows import register_workflows
from tether.store import open_store
from tether.testing import SidecarProcess

DAPR_VERSIONS = ("v1.0", "v1.0-beta1", "v1.0-alpha1")


@dataclass
class Api:
    """A running sidecar with a worker, and an HTTP client on its Dapr HTTP port."""

    sidecar: SidecarProcess
    http: httpx.Client
    runtime: Any

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.http_port}"

    def start(
        self, name: str, body: str = "", instance_id: str | None = None, version: str = "v1.0"
    ) -> str:
        instance_id = instance_id or f"t-{uuid.uuid4().hex[:12]}"
        r = self.http.post(
            f"/{version}/workflows/dapr/{name}/start",
            params={"instanceID": instance_id},
            content=body,
        )
        assert r.status_code == 202, r.text
        assert r.json() == {"instanceID": instance_id}
        return instance_id

    def get(self, instance_id: str, version: str = "v1.0") -> httpx.Response:
        return self.http.get(f"/{version}/workflows/dapr/{instance_id}")

    def status(self, instance_id: str) -> str | None:
        r = self.get(instance_id)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        status: str = r.json()["runtimeStatus"]
        return status

    def wait_status(
        self, instance_id: str, *statuses: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            r = self.get(instance_id)
            if r.status_code == 200 and r.json()["runtimeStatus"] in statuses:
                body: dict[str, Any] = r.json()
                return body
            return None

        result: dict[str, Any] = wait_until(check, timeout=timeout)
        return result

    def wait_custom_status(self, instance_id: str, value: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body: dict[str, Any] = self.get(instance_id).json()
            props = body.get("properties", {})
            return body if props.get("dapr.workflow.custom_status") == value else None

        result: dict[str, Any] = wait_until(check)
        return result


def api_error(r: httpx.Response, status: int, code: str) -> str:
    """Assert an error answer (status and Dapr-style error code); its message."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["errorCode"] == code, body
    message: str = body["message"]
    return message


def make_runtime(sidecar: SidecarProcess) -> Any:
    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port))
    register_workflows(runtime)
    return runtime


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("http-api")
    sidecar = SidecarProcess(folder / "tether.db", app_id="httpapp").start()
    runtime = make_runtime(sidecar)
    runtime.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{sidecar.http_port}", timeout=30)
    api = Api(sidecar=sidecar, http=http, runtime=runtime)
    try:
        wait_until(lambda: http.get("/v1.0/metadata").json()["connectedWorkers"] >= 1)
        yield api
    finally:
        http.close()
        runtime.shutdown()
        sidecar.stop()


def check_store_integrity(store_path: Path) -> list[str]:
    """Open the SQLite store (as a second process would) and run its integrity check."""

    async def run() -> list[str]:
        store = open_store(f"sqlite:///{store_path}")
        try:
            problems: list[str] = await store.read(lambda tx: tx.check_integrity())
            return problems
        finally:
            await store.close()

    return asyncio.run(run())
