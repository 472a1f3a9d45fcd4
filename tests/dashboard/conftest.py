"""Fixtures for the dashboard tests: a real ``tether serve`` with an official-SDK worker (in its
own process), and one headless Chromium per module driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``scripts/bootstrap.sh``); Playwright
never downloads a browser here. Screenshots go to ``test-artifacts/dashboard/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tether.testing import SidecarProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


@dataclass
class Shop:
    """A running tether with a worker serving ``tests.dashboard.workflows``."""

    sidecar: SidecarProcess
    http: httpx.Client

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.http_port}/dashboard"

    def start(self, name: str, value: Any, instance_id: str | None = None) -> str:
        instance_id = instance_id or f"{name}-{uuid.uuid4().hex[:8]}"
        r = self.http.post(
            f"/v1.0/workflows/dapr/{name}/start",
            params={"instanceID": instance_id},
            content=json.dumps(value),
        )
        assert r.status_code == 202, r.text
        return instance_id

    def state(self, instance_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/v1.0/workflows/dapr/{instance_id}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def wait_status(self, instance_id: str, *statuses: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self.state(instance_id)
            return body if body is not None and body["runtimeStatus"] in statuses else None

        result: dict[str, Any] = wait_until(check)
        return result

    def wait_custom_status(self, instance_id: str, value: str) -> None:
        wait_until(
            lambda: (
                (self.state(instance_id) or {})
                .get("properties", {})
                .get("dapr.workflow.custom_status")
                == value
            )
        )


def start_shop(folder: Path, extra_args: list[str] | None = None) -> tuple[Shop, Any]:
    sidecar = SidecarProcess(folder / "tether.db", app_id="shop", extra_args=extra_args).start()
    headers = {}
    env = {k: v for k, v in os.environ.items() if k != "DAPR_API_TOKEN"}
    if extra_args and "--api-token" in extra_args:
        headers["dapr-api-token"] = env["DAPR_API_TOKEN"] = extra_args[
            extra_args.index("--api-token") + 1
        ]
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.dashboard.workflows", str(sidecar.grpc_port)],
        stdin=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{sidecar.http_port}", timeout=30, headers=headers
    )
    wait_until(lambda: http.get("/v1.0/metadata").json()["connectedWorkers"] >= 1, timeout=60)
    return Shop(sidecar, http), worker


def stop_shop(shop: Shop, worker: Any) -> None:
    shop.http.close()
    assert worker.stdin is not None
    worker.stdin.close()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    shop.sidecar.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/bootstrap.sh dev as root"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (its own cookies) with one page; script errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def shoot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
