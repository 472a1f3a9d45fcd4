"""Seed 001's ``dapr workflow``/``dapr scheduler`` lines, verbatim with ``tether`` for ``dapr``
(app ID ``orderprocessing``→``testapp``, ``my-app``→``testapp``). With TETHER_CLI_TRANSCRIPT set,
every command and its output is appended to that file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import Cli, Result
from tests.conftest import wait_until
from tether.testing import SidecarProcess


class Recorder:
    def __init__(self, cli: Cli) -> None:
        self.cli = cli
        self.path = os.environ.get("TETHER_CLI_TRANSCRIPT")

    def __call__(self, line: str, ok: bool | None = True) -> Result:
        result = self.cli.line(" ".join(line.split()), ok=ok)
        if self.path:
            with open(self.path, "a") as out:
                out.write(f"$ {' '.join(line.split())}\n{result.out}{result.err}")
                out.write(f"[exit {result.code}]\n\n")
        return result


def test_seed_workflow_lines(cli: Cli, app: Any, wf_client: Any) -> None:
    run = Recorder(cli)
    r = run("""tether workflow run OrderProcessingWorkflow --app-id testapp
               --input '{"orderId": "12345", "amount": 100.50}'""")
    assert "Workflow instance started successfully:" in r.out
    r = run("""tether workflow run OrderProcessingWorkflow --app-id testapp
               --instance-id order-12345 --input '{"orderId": "12345"}'""")
    assert r.out.strip() == "✅  Workflow instance started successfully: order-12345"
    r = run("""tether workflow run OrderProcessingWorkflow --app-id testapp
               --start-time "2024-12-25T10:00:00Z" """)
    scheduled_id = r.out.strip().rsplit(" ", 1)[-1]
    wf_client.wait_for_workflow_start(scheduled_id, timeout_in_seconds=30)  # a past time: now
    wf_client.wait_for_workflow_start("order-12345", timeout_in_seconds=30)

    r = run("tether workflow list --app-id testapp")
    assert "order-12345" in r.out and scheduled_id in r.out
    r = run("tether workflow list --app-id testapp --filter-status RUNNING")
    assert r.out.count("RUNNING") == 3
    r = run("tether workflow list --app-id testapp --filter-name OrderProcessingWorkflow")
    assert r.out.count("OrderProcessingWorkflow") == 3
    r = run("tether workflow list --app-id testapp --filter-max-age 24h")
    assert "order-12345" in r.out
    r = run("tether workflow list --app-id testapp --output wide")
    assert "INSTANCE ID" in r.out

    r = run("tether workflow history order-12345 --app-id testapp")
    assert "ExecutionStarted" in r.out
    r = run("tether workflow history order-12345 --app-id testapp --output json")
    assert r.json()[0]["type"] == "ExecutionStarted"

    r = run("""tether workflow suspend order-12345 --app-id testapp
               --reason "Waiting for manual approval" """)
    assert "suspended successfully" in r.out
    r = run('tether workflow resume order-12345 --app-id testapp --reason "Approved by manager"')
    assert "resumed successfully" in r.out
    r = run("""tether workflow raise-event order-12345/PaymentReceived --app-id testapp
               --input '{"paymentId": "pay-67890", "amount": 100.50}'""")
    assert "raised event 'PaymentReceived' successfully" in r.out
    wf_client.wait_for_workflow_completion("order-12345", timeout_in_seconds=30)
    r = run("tether workflow list --app-id testapp --filter-status RUNNING --filter-max-age 24h")
    assert "order-12345" not in r.out
    # Terminate the other running instance, as the seed does.
    first_id = next(
        row["instanceID"]
        for row in cli("workflow", "list", "-a", "testapp", "-o", "json").json()
        if row["instanceID"] not in ("order-12345", scheduled_id)
    )
    r = run(f"""tether workflow terminate {first_id} --app-id testapp
               --output '{{"reason": "Cancelled by customer"}}'""")
    assert "terminated successfully" in r.out

    r = run("tether workflow rerun order-12345 --app-id testapp")
    assert "Rerunning workflow instance:" in r.out
    r = run("tether workflow rerun order-12345 --app-id testapp --event-id 5")
    assert "Rerunning workflow instance:" in r.out
    r = run("""tether workflow rerun order-12345 --app-id testapp
               --new-instance-id order-12345-retry""")
    assert r.out.strip().endswith("order-12345-retry")
    wf_client.wait_for_workflow_start("order-12345-retry", timeout_in_seconds=30)

    r = run("tether workflow purge order-12345 --app-id testapp")
    assert 'Purged workflow instance "order-12345"' in r.out
    r = run("tether workflow purge --app-id testapp --all-older-than 720h")
    assert "Purging 0 workflow instance(s)" in r.out
    r = run("tether workflow purge --app-id testapp --all")
    assert f'Purged workflow instance "{first_id}"' in r.out
    r = run("tether workflow purge --app-id testapp --all-older-than 2160h")
    assert "Purging 0" in r.out

    stamp = int(time.time())
    r = run(f'''tether workflow run OrderProcessingWorkflow --app-id testapp
               --instance-id "order-{stamp}"''')
    assert f"order-{stamp}" in r.out
    r = run("tether workflow list --app-id testapp --output json")
    assert isinstance(r.json(), list)

    r = run("tether workflow list --kubernetes --namespace production --app-id testapp")
    assert "Kubernetes" in r.err and "order-12345-retry" in r.out
    r = run("""tether workflow suspend order-12345-retry --kubernetes --namespace production
               --app-id testapp --reason "Maintenance window" """)
    assert "suspended successfully" in r.out

    # Direct database access: other databases are refused with a clear reason.
    for line in (
        "tether workflow list --app-id testapp --connection-string=redis://127.0.0.1:6379",
        """tether workflow list --app-id testapp --connection-string "host=localhost user=dapr
           password=dapr dbname=dapr port=5432 sslmode=disable" --table-name actor-store""",
        """tether workflow list --app-id testapp
           --connection-string "dapr:dapr@tcp(localhost:3306)/dapr?parseTime=true"
           --table-name actor-store""",
        """tether workflow list --app-id testapp
           --connection-string "sqlserver://dapr:Pass@word1@localhost:1433?database=dapr"
           --table-name abc""",
    ):
        r = run(line, ok=False)
        assert r.err.startswith(("❌  ", "⚠  ")) and r.code == 1
    r = run(
        """tether workflow list --app-id testapp --connection-string "host=localhost
               user=dapr password=dapr dbname=dapr port=5432 sslmode=disable" """,
        ok=False,
    )
    assert "is unreachable" in r.err  # nothing listens on 5432 here
    assert "password" not in r.err


def test_seed_scheduler_lines(cli: Cli, app: Any, wf_client: Any) -> None:
    run = Recorder(cli)
    for instance_id in ("instance1", "instance2"):
        wf_client.schedule_new_workflow("TimerWorkflow", input=180000, instance_id=instance_id)
    wait_until(
        lambda: (
            cli("scheduler", "list", "-o", "json").json() != []
            and len(cli("scheduler", "list", "-o", "json").json()) == 2
        ),
        timeout=30,
        interval=0.2,
    )
    r = run("tether scheduler list --filter workflow")
    assert "workflow/testapp/instance1/timer-1" in r.out and "+50.0h" in r.out
    r = run("tether scheduler get workflow/testapp/instance1/timer-1 -o yaml")
    assert "name: workflow/testapp/instance1/timer-1" in r.out
    r = run("tether scheduler export -o workflow-reminders-backup.bin")
    assert (cli.cwd / "workflow-reminders-backup.bin").is_file()
    r = run("tether scheduler delete workflow/testapp/instance1/timer-1")
    r = run("tether scheduler delete-all workflow/testapp/instance1")
    assert "Deleted 0" in r.out
    r = run("tether scheduler delete-all workflow/testapp")
    assert "Deleted 1" in r.out
    r = run("tether scheduler list --filter workflow")
    assert "workflow/" not in r.out
    r = run("tether scheduler import -f workflow-reminders-backup.bin")
    assert "Imported 2 reminder(s)" in r.out
    r = run("tether scheduler list --filter workflow")
    assert r.out.count("+50.0h") == 2


def test_connection_string_without_tether(
    cli: Cli, app: Any, wf_client: Any, sidecar: SidecarProcess, tmp_path: Path
) -> None:
    run = Recorder(cli)
    wf_client.schedule_new_workflow("HelloWorkflow", input="a", instance_id="done-1")
    wf_client.schedule_new_workflow("TimerWorkflow", input=180000, instance_id="waiting-1")
    wf_client.wait_for_workflow_completion("done-1", timeout_in_seconds=30)
    wait_until(lambda: cli("scheduler", "list", "-o", "json").json() != [], timeout=30)
    app.shutdown()
    sidecar.stop()
    db = str(sidecar.store_path)
    r = run(f"tether workflow list --app-id testapp --connection-string {db}")
    assert "done-1" in r.out and "waiting-1" in r.out
    r = run(f"tether workflow list --connection-string sqlite:///{db} -o json")
    assert {row["instanceID"] for row in r.json()} == {"done-1", "waiting-1"}
    r = run(f"tether workflow get done-1 --app-id testapp --connection-string {db} -o yaml")
    assert "runtimeStatus: COMPLETED" in r.out
    r = run(f"tether workflow history done-1 --app-id testapp --connection-string {db}")
    assert "ExecutionCompleted" in r.out
    r = run(f"tether scheduler list --connection-string {db}")
    assert "workflow/testapp/waiting-1/timer-1" in r.out
    r = run(f"tether workflow purge waiting-1 --app-id testapp --connection-string {db}", ok=False)
    assert "only COMPLETED, FAILED or TERMINATED" in r.err
    r = run(f"tether workflow purge --all --app-id testapp --connection-string {db}")
    assert 'Purged workflow instance "done-1"' in r.out
    r = run(f"tether workflow get done-1 --app-id testapp --connection-string {db}", ok=False)
    assert "not found" in r.err
    r = run("tether workflow run HelloWorkflow --app-id testapp", ok=False)
    assert "no tether" in r.err and "tether serve --app-id testapp" in r.err
    r = run(f"tether workflow list --connection-string {tmp_path / 'missing.db'}", ok=False)
    assert "no tether store" in r.err
