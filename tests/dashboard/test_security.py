"""Sign-in with an API token, cross-site request protection, escaping of everything a user
supplies, and the read-only ``tether dashboard`` over a store with no tether running."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import wait_until
from tests.dashboard.conftest import Shop, shoot, start_shop, stop_shop

TOKEN = "s3cret-token"
EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
EVIL_ID = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    shop, worker = start_shop(tmp_path_factory.mktemp("dashboard-token"), ["--api-token", TOKEN])
    try:
        yield shop
    finally:
        stop_shop(shop, worker)


def sign_in(page: Any, shop: Shop, target: str = "/instances") -> None:
    page.goto(shop.url + target)
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(target)))


def test_login_is_required_and_sets_a_strict_cookie(page: Any, shop: Shop) -> None:
    page.goto(f"{shop.url}/instances")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    page.get_by_label("API token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".notice.error")).to_contain_text("not this tether's API token")
    shoot(page, "login-refused")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/instances$"))
    expect(page.locator("h1")).to_have_text("Instances")
    cookies = page.context.cookies()
    assert len(cookies) == 1
    assert cookies[0]["httpOnly"] is True
    assert cookies[0]["sameSite"] == "Strict"
    assert cookies[0]["path"] == "/dashboard"
    # The API itself still wants its header; the dashboard cookie is no substitute.
    response = page.request.get(f"http://127.0.0.1:{shop.sidecar.http_port}/v1.0/metadata")
    assert response.status == 401
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.goto(f"{shop.url}/operations")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))


def test_actions_need_the_sessions_csrf_token_and_this_origin(page: Any, shop: Shop) -> None:
    instance_id = shop.start("idle", 1, "csrf-1")
    shop.wait_custom_status(instance_id, "waiting for go")
    sign_in(page, shop, "/instance?id=csrf-1")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    cookie = page.context.cookies()[0]
    jar = {cookie["name"]: cookie["value"]}
    url = f"{shop.url}/act"
    form = {"op": "suspend", "ids": instance_id, "confirm": "1"}
    with httpx.Client(cookies=jar) as client:
        # No session, no token: refused.
        assert httpx.post(url, data={**form, "csrf": csrf}).status_code == 401
        # A session without its CSRF token, or with another one: refused.
        assert client.post(url, data=form).status_code == 403
        assert client.post(url, data={**form, "csrf": "0" * 64}).status_code == 403
        # The right token, but sent from another site: refused.
        other = {"Origin": "http://evil.example"}
        assert client.post(url, data={**form, "csrf": csrf}, headers=other).status_code == 403
        # GET never changes anything.
        assert client.get(url, params=form).status_code == 405
        assert shop.state(instance_id)["runtimeStatus"] == "RUNNING"  # type: ignore[index]
        # Same origin and the session's token: done.
        same = {"Origin": f"http://127.0.0.1:{shop.sidecar.http_port}"}
        r = client.post(url, data={**form, "csrf": csrf}, headers=same)
        assert r.status_code == 303, r.text
    shop.wait_status(instance_id, "SUSPENDED")
    # A script with the API token in its header needs no session.
    r = httpx.post(
        url,
        data={"op": "resume", "ids": instance_id, "confirm": "1"},
        headers={"dapr-api-token": TOKEN},
    )
    assert r.status_code == 303, r.text
    shop.wait_status(instance_id, "RUNNING")


def test_user_supplied_text_is_escaped(
    page: Any, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dapr.ext.workflow as wf
    from dapr.conf import settings

    monkeypatch.setattr(settings, "DAPR_API_TOKEN", TOKEN)
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(shop.sidecar.grpc_port))
    # An ID and a workflow name full of markup (the gRPC API accepts both; the unknown workflow
    # fails with its name in the message), and payloads, a custom status and an event with it.
    client.schedule_new_workflow(EVIL, input={"note": EVIL}, instance_id=EVIL_ID)
    state = client.wait_for_workflow_completion(EVIL_ID, timeout_in_seconds=30)
    assert state is not None and state.runtime_status.name == "FAILED"
    evil_idle = client.schedule_new_workflow("idle", input=EVIL, instance_id="evil-idle")
    shop.wait_custom_status(evil_idle, "waiting for go")
    client.raise_workflow_event(evil_idle, EVIL, data=EVIL)
    client.raise_workflow_event(evil_idle, "go", data=EVIL)
    shop.wait_status(evil_idle, "COMPLETED")

    sign_in(page, shop)
    for target in (
        "/instances",
        "/instances?name=" + EVIL,
        "/instance?id=" + EVIL_ID,
        "/instance?id=evil-idle",
        "/workflows",
        "/operations",
        "/instances?prefix=" + EVIL,
    ):
        page.goto(shop.url + target.replace("#", "%23"))
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("window.__pwned") is None, target
    page.goto(f"{shop.url}/instances")
    expect(page.locator("table.list")).to_contain_text(EVIL_ID)
    expect(page.locator("table.list")).to_contain_text(EVIL)
    page.get_by_role("link", name=EVIL_ID).click()
    expect(page.locator("h1")).to_have_text(EVIL_ID)
    expect(page.locator(".failure")).to_contain_text(EVIL)
    shoot(page, "escaped-instance")
    page.goto(f"{shop.url}/instance?id=evil-idle")
    expect(page.locator("table.history")).to_contain_text(EVIL)
    expect(page.locator("dl.data")).to_contain_text(json.dumps(EVIL)[:40])
    # The confirmation page carries the ID in hidden fields, escaped too.
    page.goto(f"{shop.url}/instance?id=" + EVIL_ID)
    page.locator("details.action", has_text="Purge").locator("summary").click()
    page.get_by_role("button", name="Purge…").click()
    expect(page.locator(".confirm")).to_contain_text(EVIL_ID)
    assert page.evaluate("window.__pwned") is None
    page.get_by_role("button", name="Purge 1 instance").click()
    wait_until(lambda: client.get_workflow_state(EVIL_ID) is None)
    assert shop.state("evil-idle") is not None


def test_read_only_dashboard_over_a_store(page: Any, shop: Shop, tmp_path: Path) -> None:
    instance_id = shop.start("idle", 5, "offline-1")
    shop.wait_custom_status(instance_id, "waiting for go")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether",
            "dashboard",
            "--port",
            "0",
            "--connection-string",
            shop.sidecar.store_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**shop.sidecar.base_env()},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+/dashboard/)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
        base = match.group(1).rstrip("/")
        page.goto(f"{base}/instances")
        expect(page.locator('tr[data-id="offline-1"]')).to_be_visible()
        expect(page.locator(".notice.info")).to_contain_text("Actions need a running tether")
        expect(page.locator("#bulk")).to_have_count(0)
        expect(page.locator("header .source")).to_contain_text("read-only")
        page.goto(f"{base}/instance?id=offline-1")
        expect(page.locator("section.actions")).to_contain_text("Actions need a running tether")
        expect(page.locator("details.action")).to_have_count(0)
        expect(page.locator("dl.summary")).to_contain_text("RUNNING")
        page.goto(f"{base}/workflows")
        expect(page.locator("table.stats")).to_contain_text("idle")
        page.goto(f"{base}/operations")
        expect(page.locator("section", has_text="Nodes and their leases")).to_contain_text("shop@")
        shoot(page, "offline-operations")
        # An action posted anyway is refused, and changes nothing.
        page.goto(f"{base}/instances")
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        cookie = page.context.cookies()[0]
        r = httpx.post(
            f"{base}/act",
            data={"op": "terminate", "ids": instance_id, "confirm": "1", "csrf": csrf},
            cookies={cookie["name"]: cookie["value"]},
        )
        assert r.status_code == 409
        assert shop.state(instance_id)["runtimeStatus"] == "RUNNING"  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
