"""The dashboard in a real browser against a real tether running real workflows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_until
from tests.dashboard.conftest import Shop, shoot, start_shop, stop_shop

TIMEOUT = 20_000


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    shop, worker = start_shop(tmp_path_factory.mktemp("dashboard"))
    try:
        yield shop
    finally:
        stop_shop(shop, worker)


@pytest.fixture(scope="module")
def orders(shop: Shop) -> dict[str, str]:
    """An order waiting for approval (after a retry, a timer and a child), and a failed one."""
    waiting = shop.start("order", {"item": "paperclips", "amount": 3}, "order-a")
    failed = shop.start("broken", {"item": "lamp"}, "broken-a")
    shop.wait_custom_status(waiting, "awaiting approval")
    shop.wait_status(failed, "FAILED")
    return {"waiting": waiting, "failed": failed}


def test_list_filters_counts_sort_and_paging(page: Any, shop: Shop, orders: dict[str, str]) -> None:
    ids = [shop.start("idle", i, f"list-{i}") for i in range(3)]
    for instance_id in ids:
        shop.wait_custom_status(instance_id, "waiting for go")
    page.goto(f"{shop.url}/instances")
    table = page.locator("table.list tbody")
    for instance_id in [*ids, *orders.values(), "order-a-ship"]:
        expect(table.locator(f'tr[data-id="{instance_id}"]')).to_be_visible()
    expect(page.locator('.counts a[data-status="FAILED"]')).to_contain_text("1")
    shoot(page, "instances")

    # Status filter through the form.
    page.get_by_label("FAILED", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator('tr[data-id="broken-a"]')).to_be_visible()

    # Name, prefix and parent/child filters.
    page.goto(f"{shop.url}/instances?name=idle&prefix=list-")
    expect(table.locator("tr")).to_have_count(3)
    page.goto(f"{shop.url}/instances?tree=children")
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator('tr[data-id="order-a-ship"]')).to_be_visible()
    page.goto(f"{shop.url}/instances?parent=order-a")
    expect(table.locator('tr[data-id="order-a-ship"]')).to_be_visible()

    # Sort by ID ascending, two per page, following the cursor.
    page.goto(f"{shop.url}/instances?prefix=list-&sort=instance_id&order=asc&limit=2")
    expect(table.locator("tr").first).to_have_attribute("data-id", "list-0")
    expect(table.locator("tr")).to_have_count(2)
    page.get_by_role("link", name="Next page").click()
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator("tr").first).to_have_attribute("data-id", "list-2")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    # A time range that ends before anything was created shows nothing.
    page.goto(f"{shop.url}/instances?created_to=2000-01-01T00:00")
    expect(page.get_by_text("No instances match.")).to_be_visible()

    # Bad input is a clear error, not a crash.
    page.goto(f"{shop.url}/instances?created_from=yesterday")
    expect(page.locator(".notice.error")).to_contain_text("not a time")


def test_dashboard_paths_and_the_api_side_by_side(shop: Shop) -> None:
    r = shop.http.get("/dashboard")
    assert r.status_code == 307 and r.headers["location"] == "/dashboard/"
    r = shop.http.get("/dashboard/")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/instances"
    page = shop.http.get("/dashboard/instances")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert shop.http.get("/dashboard/static/dashboard.css").status_code == 200
    assert shop.http.get("/dashboard/static/../app.py").status_code == 404
    # The API's own answers are unchanged (JSON errors, its routes).
    missing = shop.http.get("/v1.0/nothing-here")
    assert missing.status_code == 404 and missing.json()["errorCode"]
    assert shop.http.get("/v1.0/metadata").json()["connectedWorkers"] >= 1


def test_live_refresh_shows_new_instances(page: Any, shop: Shop) -> None:
    page.goto(f"{shop.url}/instances?prefix=live-")
    expect(page.get_by_text("No instances match.")).to_be_visible()
    shop.start("idle", 1, "live-1")
    expect(page.locator('tr[data-id="live-1"]')).to_be_visible(timeout=TIMEOUT)


def test_instance_page(page: Any, shop: Shop, orders: dict[str, str]) -> None:
    page.goto(f"{shop.url}/instance?id=order-a")
    expect(page.locator("h1")).to_have_text("order-a")
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("RUNNING")
    expect(summary).to_contain_text("order")
    expect(summary).to_contain_text("shop")
    expect(page.locator("dl.data")).to_contain_text('"item": "paperclips"')
    expect(page.locator("dl.data")).to_contain_text("awaiting approval")

    # The timeline: each activity attempt, the timer, the child and the event wait.
    svg = page.locator(".timeline svg")
    for label in ("charge #1", "reserve #2", "(attempt 2)", "timer #", "child ship", "approval"):
        expect(svg).to_contain_text(label)
    expect(svg.locator("rect.bar.activity.failed.running")).to_have_count(1)
    expect(svg.locator("rect.bar.child.queued")).to_have_count(1)
    expect(svg.locator("rect.bar.child.running")).to_have_count(1)

    # The raw history, payloads expandable.
    history = page.locator("table.history tbody")
    expect(history.locator("tr", has_text="TaskFailed")).to_contain_text("warehouse busy")
    scheduled = history.locator("tr", has_text="TaskScheduled").first
    scheduled.locator("summary").click()
    expect(scheduled.locator("pre")).to_contain_text('"amount": 3')
    shoot(page, "instance-waiting")

    # The tree links down to the child, and the child links back up.
    page.locator("ul.tree").get_by_role("link", name="order-a-ship").click()
    expect(page.locator("h1")).to_have_text("order-a-ship")
    expect(page.locator("dl.summary")).to_contain_text("COMPLETED")
    page.locator("ul.tree").get_by_role("link", name="order-a").click()
    expect(page.locator("h1")).to_have_text("order-a")

    # A failed instance shows its failure and stack trace.
    page.goto(f"{shop.url}/instance?id=broken-a")
    failure = page.locator(".failure").first
    expect(failure).to_contain_text("card declined for lamp")
    failure.get_by_text("Stack trace").click()
    expect(failure.locator("pre")).to_be_visible()
    shoot(page, "instance-failed")

    page.goto(f"{shop.url}/instance?id=no-such-thing")
    expect(page.locator("h1")).to_have_text("Instance not found")


def test_waiting_work_is_shown(page: Any, shop: Shop, tmp_path: Path) -> None:
    import dapr.ext.workflow as wf

    # A start scheduled for later, with an event raised meanwhile: both wait in the inbox.
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(shop.sidecar.grpc_port))
    later = datetime.now(UTC) + timedelta(hours=1)
    client.schedule_new_workflow("idle", input=1, instance_id="later-1", start_at=later)
    r = shop.http.post("/v1.0/workflows/dapr/later-1/raiseEvent/go", content='"early"')
    assert r.status_code == 202, r.text
    page.goto(f"{shop.url}/instance?id=later-1")
    expect(page.locator("dl.summary")).to_contain_text("PENDING")
    buffered = page.locator("section", has_text="Buffered events")
    expect(buffered).to_contain_text("EventRaised")
    expect(buffered).to_contain_text('"early"')
    expect(page.locator("section", has_text="Pending timers")).to_contain_text("start-")

    # An activity a worker is running: which worker holds it.
    flag = tmp_path / "release"
    held = shop.start("held", str(flag), "held-1")
    page.goto(f"{shop.url}/instance?id={held}")
    activities = page.locator("section", has_text="Pending activities")
    expect(activities).to_contain_text("hold")
    expect(activities).to_contain_text("worker stream")
    expect(page.locator(".timeline svg rect.bar.activity.pending")).to_have_count(1)
    shoot(page, "instance-held")
    page.goto(f"{shop.url}/operations")
    expect(page.locator("section", has_text="Connected workers")).to_contain_text(
        "activity held-1 task 1"
    )
    flag.write_text("go")
    shop.wait_status(held, "COMPLETED")


def _open_action(page: Any, label: str) -> None:
    page.locator("details.action", has_text=label).locator("summary").click()


def test_single_actions(page: Any, shop: Shop, orders: dict[str, str]) -> None:
    instance_id = shop.start("idle", 1, "act-1")
    shop.wait_custom_status(instance_id, "waiting for go")
    page.goto(f"{shop.url}/instance?id=act-1")

    # Suspend with a reason, through the confirmation page.
    _open_action(page, "Suspend")
    page.get_by_label("Reason").fill("checking stock")
    page.get_by_role("button", name="Suspend…").click()
    expect(page.locator("h1")).to_have_text("Suspend 1 instance?")
    shoot(page, "confirm-suspend")
    page.get_by_role("button", name="Suspend 1 instance").click()
    expect(page.locator("dl.summary")).to_contain_text("SUSPENDED", timeout=TIMEOUT)
    assert shop.state(instance_id)["runtimeStatus"] == "SUSPENDED"  # type: ignore[index]

    # Resume; then an event with data that is not JSON is refused, valid data completes it.
    _open_action(page, "Resume")
    page.get_by_role("button", name="Resume…").click()
    page.get_by_role("button", name="Resume 1 instance").click()
    shop.wait_status(instance_id, "RUNNING")
    page.goto(f"{shop.url}/instance?id=act-1")
    _open_action(page, "Raise event")
    page.get_by_label("Event name").fill("go")
    page.get_by_label("Data (JSON)").fill("{not json")
    expect(page.get_by_label("Data (JSON)")).to_have_class(re.compile("invalid"))
    page.get_by_label("Data (JSON)").evaluate("el => el.form.noValidate = true")
    page.get_by_role("button", name="Raise event…").click()
    expect(page.locator(".notice.error")).to_contain_text("not valid JSON")
    page.goto(f"{shop.url}/instance?id=act-1")
    _open_action(page, "Raise event")
    page.get_by_label("Event name").fill("go")
    page.get_by_label("Data (JSON)").fill('{"ok": true}')
    page.get_by_role("button", name="Raise event…").click()
    expect(page.locator(".confirm")).to_contain_text('{"ok": true}')
    page.get_by_role("button", name="Raise an event on 1 instance").click()
    body = shop.wait_status(instance_id, "COMPLETED")
    assert '"ok": true' in body["properties"]["dapr.workflow.output"]

    # Terminate another one with an output, then purge it: gone from the store and the list.
    shop.start("idle", 2, "act-2")
    shop.wait_custom_status("act-2", "waiting for go")
    page.goto(f"{shop.url}/instance?id=act-2")
    _open_action(page, "Terminate")
    page.get_by_label("Output (JSON)").fill('"stopped by hand"')
    page.get_by_role("button", name="Terminate…").click()
    expect(page.locator(".confirm .notice.warn")).to_contain_text("for good")
    page.get_by_role("button", name="Terminate 1 instance").click()
    body = shop.wait_status("act-2", "TERMINATED")
    assert body["properties"]["dapr.workflow.output"] == '"stopped by hand"'
    page.goto(f"{shop.url}/instance?id=act-2")
    _open_action(page, "Purge")
    page.get_by_role("button", name="Purge…").click()
    expect(page.locator("h1")).to_have_text("Purge 1 instance?")
    page.get_by_role("button", name="Purge 1 instance").click()
    expect(page).to_have_url(re.compile(r"/dashboard/instances$"))
    assert shop.state("act-2") is None


def test_rerun_from_an_event(page: Any, shop: Shop, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("")
    second.write_text("")
    shop.start("held", str(first), "rerun-1")
    shop.wait_status("rerun-1", "COMPLETED")
    page.goto(f"{shop.url}/instance?id=rerun-1")
    _open_action(page, "Rerun")
    page.get_by_label("From event").select_option(index=0)
    page.get_by_label("New instance ID (optional)").fill("rerun-1-again")
    page.get_by_label("New input (JSON, optional)").fill(json.dumps(str(second)))
    page.get_by_role("button", name="Rerun from an event…").click()
    expect(page.locator(".confirm")).to_contain_text("rerun-1-again")
    page.get_by_role("button", name="Rerun 1 instance").click()
    expect(page.locator("h1")).to_have_text("rerun-1-again")
    shop.wait_status("rerun-1-again", "COMPLETED")
    page.reload()
    expect(page.locator("table.history")).to_contain_text(str(second))

    # A rerun onto an ID that exists is refused with the engine's message.
    page.goto(f"{shop.url}/instance?id=rerun-1")
    _open_action(page, "Rerun")
    page.get_by_label("New instance ID (optional)").fill("rerun-1-again")
    page.get_by_role("button", name="Rerun from an event…").click()
    page.get_by_role("button", name="Rerun 1 instance").click()
    expect(page.locator(".notice.error")).to_contain_text("already been created")


def test_bulk_actions(page: Any, shop: Shop) -> None:
    ids = [shop.start("idle", i, f"bulk-{i}") for i in range(3)]
    for instance_id in ids:
        shop.wait_custom_status(instance_id, "waiting for go")
    page.goto(f"{shop.url}/instances?prefix=bulk-")
    bulk = page.locator("#bulk")
    expect(bulk.get_by_role("button", name="Suspend")).to_be_disabled()
    page.locator(".select-all").check()
    expect(bulk.locator(".selected")).to_have_text("3 instances selected")
    bulk.get_by_role("button", name="Suspend").click()
    expect(page.locator("h1")).to_have_text("Suspend 3 instances?")
    expect(page.locator(".confirm ul.ids li")).to_have_count(3)
    page.get_by_label("Reason (optional)").fill("inventory")
    shoot(page, "confirm-bulk")
    page.get_by_role("button", name="Suspend 3 instances").click()
    expect(page.locator(".notice")).to_have_text("Suspended 3 of 3.")
    for instance_id in ids:
        shop.wait_status(instance_id, "SUSPENDED")
    page.goto(f"{shop.url}/instance?id=bulk-0")
    expect(page.locator("table.history tr", has_text="ExecutionSuspended")).to_contain_text(
        "inventory"
    )

    page.goto(f"{shop.url}/instances?prefix=bulk-")
    for instance_id in ids[:2]:
        page.locator(f'tr[data-id="{instance_id}"] input[type=checkbox]').check()
    page.locator("#bulk").get_by_role("button", name="Terminate").click()
    expect(page.locator("h1")).to_have_text("Terminate 2 instances?")
    page.get_by_role("button", name="Terminate 2 instances").click()
    for instance_id in ids[:2]:
        shop.wait_status(instance_id, "TERMINATED")
    assert shop.state(ids[2])["runtimeStatus"] == "SUSPENDED"  # type: ignore[index]

    page.goto(f"{shop.url}/instances?prefix=bulk-")
    page.locator(".select-all").check()
    page.locator("#bulk").get_by_role("button", name="Purge").click()
    expect(page.locator("h1")).to_have_text("Purge 3 instances?")
    page.get_by_role("button", name="Purge 3 instances").click()
    # The running (suspended) one is refused and said so; the terminal ones are gone.
    expect(page.locator(".notice")).to_have_text("Purged 2 of 3.")
    expect(page.locator("table.list")).to_contain_text("bulk-2")
    wait_until(lambda: shop.state(ids[0]) is None and shop.state(ids[1]) is None)


def test_workflows_and_operations(page: Any, shop: Shop, orders: dict[str, str]) -> None:
    page.goto(f"{shop.url}/workflows")
    stats = page.locator("table.stats tbody")
    ship = stats.locator("tr", has_text="ship").first
    expect(ship).to_contain_text("COMPLETED")
    expect(ship.locator("td").nth(3)).to_contain_text("ms")  # p50 / p95 / p99 of the runs
    broken = stats.locator("tr", has_text="broken")
    expect(broken).to_contain_text("100.0% of 1")
    expect(broken).to_contain_text("card declined for lamp")
    expect(page.locator("#live")).to_contain_text("exact nearest-rank percentiles")
    shoot(page, "workflows")
    page.get_by_label("Window").select_option("15m")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"window=15m"))
    expect(stats.locator("tr", has_text="broken")).to_be_visible()

    page.goto(f"{shop.url}/operations")
    workers = page.locator("section", has_text="Connected workers")
    expect(workers).to_contain_text("stateful history")
    nodes = page.locator("section", has_text="Nodes and their leases")
    expect(nodes).to_contain_text("shop@")
    expect(nodes).to_contain_text("live")
    expect(page.locator("section", has_text="Store")).to_contain_text("tether.db")
    shoot(page, "operations")


def test_artifacts_are_written() -> None:
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
    assert any(folder.glob("*.png"))
