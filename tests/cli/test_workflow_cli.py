"""``tether workflow …`` against a real tether with an official-SDK worker."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.cli.conftest import APP_ID, Cli
from tests.conftest import wait_until


def status(cli: Cli, instance_id: str) -> str:
    detail = cli("workflow", "get", instance_id, "-a", APP_ID, "-o", "json").json()
    return str(detail["runtimeStatus"])


def test_run_raise_event_and_list_formats(cli: Cli, app: Any, wf_client: Any) -> None:
    r = cli(
        "workflow",
        "run",
        "OrderProcessingWorkflow",
        "-a",
        APP_ID,
        "-i",
        "order-1",
        "-x",
        '{"orderId": "1"}',
    )
    assert r.out.strip() == "✅  Workflow instance started successfully: order-1"
    wf_client.wait_for_workflow_start("order-1", timeout_in_seconds=30)
    r = cli("workflow", "raise-event", "order-1/PaymentReceived", "-a", APP_ID, "-x", '{"paid": 1}')
    assert r.out.strip() == "✅  Workflow 'order-1' raised event 'PaymentReceived' successfully"
    wf_client.wait_for_workflow_completion("order-1", timeout_in_seconds=30)

    short = cli("workflow", "list", "-a", APP_ID).out.splitlines()
    assert short[0].split() == ["NAME", "ID", "STATUS", "CUSTOM", "STATUS", "AGE"]
    assert short[1].split()[:3] == ["OrderProcessingWorkflow", "order-1", "COMPLETED"]
    wide = cli("workflow", "list", "-a", APP_ID, "-o", "wide").out.splitlines()
    assert wide[0].startswith("NAMESPACE")
    assert "default" in wide[1] and APP_ID in wide[1]
    rows = cli("workflow", "list", "-a", APP_ID, "-o", "json").json()
    assert rows == [
        {
            "namespace": "default",
            "appID": APP_ID,
            "name": "OrderProcessingWorkflow",
            "instanceID": "order-1",
            "created": rows[0]["created"],
            "lastUpdate": rows[0]["lastUpdate"],
            "runtimeStatus": "COMPLETED",
            "customStatus": "",
            "failureMessage": "",
        }
    ]
    assert rows[0]["created"].endswith("Z")
    assert yaml.safe_load(cli("workflow", "list", "-a", APP_ID, "-o", "yaml").out) == rows
    assert cli("workflow", "list", "-a", APP_ID, "-o", "ids").out.split() == ["order-1"]

    detail = cli("workflow", "get", "order-1", "-a", APP_ID, "-o", "json").json()
    # The CLI encodes -x once more, as the Dapr CLI does: the workflow received a JSON string.
    assert json.loads(detail["output"]) == {
        "order": '{"orderId": "1"}',
        "greeting": "hello step0",
        "payment": '{"paid": 1}',
    }
    text = cli("workflow", "get", "order-1", "-a", APP_ID).out
    assert "Status:" in text and "COMPLETED" in text


def test_app_id_optional_with_one_tether(cli: Cli, app: Any, wf_client: Any) -> None:
    r = cli("workflow", "run", "HelloWorkflow", "-i", "h1", "-x", '"bob"')
    assert "h1" in r.out
    wf_client.wait_for_workflow_completion("h1", timeout_in_seconds=30)
    assert cli("workflow", "list", "-o", "ids").out.split() == ["h1"]


def test_history_formats(cli: Cli, app: Any, wf_client: Any) -> None:
    cli("workflow", "run", "HelloWorkflow", "-a", APP_ID, "-i", "hist-1", "-x", '"ann"')
    wf_client.wait_for_workflow_completion("hist-1", timeout_in_seconds=30)
    short = cli("workflow", "history", "hist-1", "-a", APP_ID).out.splitlines()
    assert short[0].split() == ["TYPE", "NAME", "EVENTID", "ELAPSED", "STATUS", "DETAILS"]
    types = [line.split()[0] for line in short[1:]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionCompleted"
    assert "TaskScheduled" in types and "TaskCompleted" in types
    assert short[1].split()[3].startswith("Age:")
    assert "workflowStart" in short[1]
    wide = cli("workflow", "history", "hist-1", "-a", APP_ID, "-o", "wide").out.splitlines()
    assert wide[0].split()[:4] == ["NAMESPACE", "APP", "ID", "PLAY"]
    rows = cli("workflow", "history", "hist-1", "-a", APP_ID, "--output", "json").json()
    assert rows[0]["type"] == "ExecutionStarted" and rows[0]["appID"] == APP_ID
    assert rows[0]["namespace"] == "default"
    assert set(rows[0]) <= {
        "namespace",
        "appID",
        "play",
        "type",
        "name",
        "eventId",
        "timestamp",
        "elapsed",
        "status",
        "details",
        "router",
        "executionId",
        "attrs",
    }
    scheduled = next(r for r in rows if r["type"] == "TaskScheduled")
    assert scheduled["name"] == "greet" and scheduled["eventId"] >= 0
    completed = rows[-1]
    assert completed["status"] == "COMPLETED" and completed["details"].startswith("execDuration=")
    again = yaml.safe_load(cli("workflow", "history", "hist-1", "-a", APP_ID, "-o", "yaml").out)
    assert again[0].pop("elapsed").startswith("Age:")  # the first row's age moves on
    assert rows[0].pop("elapsed").startswith("Age:")
    assert again == rows


def test_suspend_resume_terminate_and_failure_column(cli: Cli, app: Any, wf_client: Any) -> None:
    cli("workflow", "run", "OrderProcessingWorkflow", "-a", APP_ID, "-i", "o-2")
    wf_client.wait_for_workflow_start("o-2", timeout_in_seconds=30)
    r = cli("workflow", "suspend", "o-2", "-a", APP_ID, "-r", "manual approval")
    assert r.out.strip() == "✅  Workflow 'o-2' suspended successfully"
    assert status(cli, "o-2") == "SUSPENDED"
    r = cli("workflow", "resume", "o-2", "-a", APP_ID, "--reason", "approved")
    assert r.out.strip() == "✅  Workflow 'o-2' resumed successfully"
    assert status(cli, "o-2") == "RUNNING"
    r = cli("workflow", "terminate", "o-2", "-a", APP_ID, "-o", '{"reason": "cancelled"}')
    assert r.out.strip() == "✅  Workflow 'o-2' terminated successfully"
    detail = cli("workflow", "get", "o-2", "-a", APP_ID, "-o", "json").json()
    assert detail["runtimeStatus"] == "TERMINATED"
    assert json.loads(detail["output"]) == '{"reason": "cancelled"}'

    cli("workflow", "run", "FailingWorkflow", "-a", APP_ID, "-i", "bad-1")
    wf_client.wait_for_workflow_completion("bad-1", timeout_in_seconds=30)
    rows = cli("workflow", "list", "-a", APP_ID, "-o", "json", "-s", "FAILED").json()
    assert [r["instanceID"] for r in rows] == ["bad-1"]
    assert "boom second line" in rows[0]["failureMessage"]
    wide = cli("workflow", "list", "-a", APP_ID, "-o", "wide", "-s", "FAILED").out
    assert "boom second line" in wide


def test_rerun(cli: Cli, app: Any, wf_client: Any) -> None:
    cli("workflow", "run", "HelloWorkflow", "-a", APP_ID, "-i", "src-1", "-x", '"zed"')
    wf_client.wait_for_workflow_completion("src-1", timeout_in_seconds=30)
    r = cli(
        "workflow",
        "rerun",
        "src-1",
        "-a",
        APP_ID,
        "--new-instance-id",
        "src-1-retry",
        "-x",
        '"amy"',
    )
    assert r.out.strip() == "ℹ️  Rerunning workflow instance: src-1-retry"  # noqa: RUF001
    state = wf_client.wait_for_workflow_completion("src-1-retry", timeout_in_seconds=30)
    assert json.loads(state.serialized_output) == 'hello "amy"'
    r = cli("workflow", "rerun", "src-1", "-a", APP_ID)  # from the beginning, new random ID
    new_id = r.out.strip().rsplit(" ", 1)[-1]
    wf_client.wait_for_workflow_completion(new_id, timeout_in_seconds=30)
    r = cli("workflow", "rerun", "src-1", "-a", APP_ID, "-e", "99", ok=False)
    assert "99" in r.err and r.err.startswith("❌  ")


def test_purge_and_errors(cli: Cli, app: Any, wf_client: Any) -> None:
    cli("workflow", "run", "OrderProcessingWorkflow", "-a", APP_ID, "-i", "live-1")
    wf_client.wait_for_workflow_start("live-1", timeout_in_seconds=30)
    r = cli("workflow", "purge", "live-1", "-a", APP_ID, ok=False)
    assert r.err.startswith("❌  live-1: ")
    assert "COMPLETED, FAILED or TERMINATED" in r.err
    assert status(cli, "live-1") == "RUNNING"
    r = cli("workflow", "purge", "live-1", "-a", APP_ID, "--force")
    assert 'Purged workflow instance "live-1"' in r.out

    for args in (
        ("workflow", "get", "nope", "-a", APP_ID),
        ("workflow", "history", "nope", "-a", APP_ID),
        ("workflow", "suspend", "nope", "-a", APP_ID),
        ("workflow", "terminate", "nope", "-a", APP_ID),
        ("workflow", "raise-event", "nope/Ev", "-a", APP_ID),
        ("workflow", "purge", "nope", "-a", APP_ID),
    ):
        r = cli(*args, ok=False)
        assert r.code == 1 and r.err.startswith("❌  ") and "nope" in r.err, (args, r)
        assert len(r.err.strip().splitlines()) == 1
    r = cli("workflow", "list", "-a", APP_ID, "-m", "yesterday", ok=False)
    assert "--filter-max-age" in r.err and "duration" in r.err
    r = cli("workflow", "purge", "-a", APP_ID, "--all-older-than", "7x", ok=False)
    assert "--all-older-than" in r.err
    r = cli("workflow", "run", "HelloWorkflow", "-a", APP_ID, "-x", "{not json", ok=False)
    assert "invalid JSON for --input" in r.err
    r = cli("workflow", "terminate", "x", "-a", APP_ID, "-o", "{bad", ok=False)
    assert "invalid JSON for --output" in r.err
    r = cli("workflow", "list", "-a", "other-app", ok=False)
    assert "no tether is running for app ID 'other-app'" in r.err
    assert "tether run --app-id other-app -- python3 app.py" in r.err
    assert "tether serve --app-id other-app" in r.err
    r = cli(
        "workflow",
        "purge",
        "-a",
        APP_ID,
        "--all-older-than",
        "1h",
        "--all-filter-status",
        "RUNNING",
        ok=False,
    )
    assert "--force" in r.err
    r = cli("workflow", "list", "-a", APP_ID, "-o", "ids", "-s", "RUNNING", ok=False)
    assert "filters" in r.err
    r = cli("workflow", "list", "-a", APP_ID, "-s", "DONE", ok=False)
    assert "RUNNING, COMPLETED" in r.err


def test_purge_all_older_than(cli: Cli, app: Any, wf_client: Any) -> None:
    import time

    def run_batch(prefix: str) -> list[str]:
        ids = [f"{prefix}-{i}" for i in range(2)]
        for instance_id in ids:
            wf_client.schedule_new_workflow("HelloWorkflow", input="x", instance_id=instance_id)
        for instance_id in ids:
            wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        return ids

    old = run_batch("old")
    created = max(wf_client.get_workflow_state(i).created_at for i in old)
    # Wait (by polling the clock) until the first batch is more than 8 s old; the second batch
    # is then at most a few seconds old when the purge with a 6 s cut-off runs.
    wait_until(lambda: time.time() - created.timestamp() > 8, timeout=30, interval=0.1)
    new = run_batch("new")
    wf_client.schedule_new_workflow("OrderProcessingWorkflow", instance_id="old-running")
    r = cli("workflow", "purge", "-a", APP_ID, "--all-older-than", "6s")
    assert r.out.splitlines()[0] == "ℹ️  Purging 2 workflow instance(s)", r.out  # noqa: RUF001
    assert sorted(r.out.splitlines()[1:]) == sorted(
        f'✅  Purged workflow instance "{i}"' for i in old
    )
    left = cli("workflow", "list", "-a", APP_ID, "-o", "ids").out.split()
    assert sorted(left) == sorted([*new, "old-running"])
    r = cli("workflow", "purge", "-a", APP_ID, "--all")
    assert "Purging 2 workflow instance(s)" in r.out
    assert cli("workflow", "list", "-a", APP_ID, "-o", "ids").out.split() == ["old-running"]
