"""``tether scheduler …``: durable timers and scheduled starts as Dapr-style reminders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.cli.conftest import APP_ID, Cli
from tests.conftest import wait_until


def names(cli: Cli) -> list[str]:
    rows = cli("scheduler", "list", "--filter", "workflow", "-o", "json").json()
    return [r["name"] for r in rows]


def test_list_get_formats(cli: Cli, app: Any, wf_client: Any) -> None:
    wf_client.schedule_new_workflow("TimerWorkflow", input=180000, instance_id="instance1")
    wf_client.schedule_new_workflow("TimerWorkflow", input=180000, instance_id="instance2")
    wait_until(lambda: len(names(cli)) == 2, timeout=30, interval=0.2)
    n1, _ = sorted(names(cli))
    assert n1.startswith(f"workflow/{APP_ID}/instance1/timer-")
    short = cli("scheduler", "list", "--filter", "workflow").out.splitlines()
    assert short[0].split() == ["NAME", "BEGIN", "COUNT", "LAST", "TRIGGER"]
    assert short[1].split()[1:] == ["+50.0h", "0"]
    wide = cli("scheduler", "list", "-o", "wide").out.splitlines()
    assert wide[0].split()[:3] == ["NAMESPACE", "NAME", "BEGIN"]
    doc = yaml.safe_load(cli("scheduler", "get", n1, "-o", "yaml").out)
    assert doc[0]["name"] == n1 and doc[0]["instanceID"] == "instance1"
    assert doc[0]["begin"] == "+50.0h" and doc[0]["type"] == "timer"
    assert cli("scheduler", "list", "--filter", "actor", "-o", "json").json() == []
    r = cli("scheduler", "get", "workflow/nope/x/timer-1", ok=False)
    assert r.err.startswith("❌  ") and "not found" in r.err

    # A pending scheduled start is a reminder too.
    cli("workflow", "run", "HelloWorkflow", "-a", APP_ID, "-i", "later", "-s", "1h")
    start = [n for n in names(cli) if "/later/" in n]
    assert len(start) == 1 and start[0].startswith(f"workflow/{APP_ID}/later/start-")
    listed = cli("workflow", "list", "-a", APP_ID).out
    assert "<scheduled>" in listed


def test_deleted_timer_does_not_fire_and_import_restores(
    cli: Cli, app: Any, wf_client: Any, tmp_path: Path
) -> None:
    started = time.time()
    for instance_id in ("t1", "t2", "t3"):
        wf_client.schedule_new_workflow("TimerWorkflow", input=30, instance_id=instance_id)
    wait_until(lambda: len(names(cli)) == 3, timeout=10, interval=0.2)
    backup = tmp_path / "workflow-reminders-backup.bin"
    r = cli("scheduler", "export", "-o", str(backup))
    assert "Exported 3 reminder(s)" in r.out
    t1 = f"workflow/{APP_ID}/t1/timer-1"
    assert "Deleted" in cli("scheduler", "delete", t1).out
    r = cli("scheduler", "delete-all", f"workflow/{APP_ID}/t2")
    assert "Deleted 1 reminder(s)" in r.out
    r = cli("scheduler", "delete-all", f"workflow/{APP_ID}")
    assert "Deleted 1 reminder(s)" in r.out
    assert names(cli) == []
    # Past the original fire time (+1 s): nothing fired, the instances still wait.
    wait_until(lambda: time.time() > started + 31.5, timeout=60, interval=0.1)
    for instance_id in ("t1", "t2", "t3"):
        assert wf_client.get_workflow_state(instance_id).runtime_status.name == "RUNNING"
    r = cli("scheduler", "import", "-f", str(backup))
    assert "Imported 3 reminder(s)" in r.out
    for instance_id in ("t1", "t2", "t3"):
        state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state.runtime_status.name == "COMPLETED"
        assert state.serialized_output == '"fired"'
    # Importing again skips what no longer waits.
    r = cli("scheduler", "import", "-f", str(backup))
    assert "Imported 0 reminder(s)" in r.out and "COMPLETED, skipped" in r.err


def test_import_bad_file(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_text("not an export")
    r = cli("scheduler", "import", "-f", str(bad), ok=False)
    assert "is not a tether scheduler export" in r.err
