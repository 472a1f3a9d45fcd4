"""``tether workflow list|get|history`` and ``tether scheduler list`` on a PostgreSQL store with
no tether running: the connection string in Dapr's keyword and URL forms, ``--table-name`` as
the schema."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli, app  # noqa: F401 - the CLI suite's worker fixture
from tests.conftest import wait_until
from tether.testing import SidecarProcess
from tether.testing.postgres import FreshDatabases


@pytest.fixture
def backend() -> str:
    return "postgres"


def test_cli_reads_a_postgres_store_with_no_tether_running(
    sidecar: SidecarProcess,
    app: Any,  # noqa: F811
    wf_client: Any,
    pg_databases: FreshDatabases,
    tmp_path: Path,
) -> None:
    # The running tether's registry entry holds the store URL (a password, maybe): owner-only.
    entries = list((sidecar.home / "run").glob("*.json"))
    assert entries and all(e.stat().st_mode & 0o077 == 0 for e in entries)
    wf_client.schedule_new_workflow("HelloWorkflow", input="pg", instance_id="hello-1")
    wf_client.wait_for_workflow_completion("hello-1", timeout_in_seconds=30)
    wf_client.schedule_new_workflow("TimerWorkflow", input=180000, instance_id="timer-1")
    wf_client.wait_for_workflow_start("timer-1", timeout_in_seconds=30)
    app.shutdown()
    url = sidecar.store_url
    keywords = pg_databases.cluster.keywords(url.rsplit("/", 1)[-1])
    cli = Cli({**os.environ, "TETHER_HOME": str(tmp_path / "empty-home")}, tmp_path)
    # The timer is stored with the turn that created it; the sidecar stops once it is there.
    wait_until(
        lambda: cli("scheduler", "list", "--connection-string", keywords, "-o", "json").json(),
        timeout=30,
    )
    sidecar.stop()

    listed = cli(
        "workflow", "list", "--app-id", "testapp", "--connection-string", keywords,
        "--table-name", "tether", "-o", "json",
    ).json()  # fmt: skip
    by_id = {row["instanceID"]: row["runtimeStatus"] for row in listed}
    assert by_id == {"hello-1": "COMPLETED", "timer-1": "RUNNING"}

    got = cli(
        "workflow", "get", "hello-1", "--app-id", "testapp",
        "--connection-string", f"{url}?schema=tether", "-o", "json",
    ).json()  # fmt: skip
    assert got["instanceID"] == "hello-1" and got["runtimeStatus"] == "COMPLETED"

    history = cli(
        "workflow", "history", "hello-1", "--app-id", "testapp",
        "--connection-string", keywords, "-o", "json",
    ).json()  # fmt: skip
    kinds = [event["type"] for event in history]
    assert "ExecutionStarted" in kinds and "ExecutionCompleted" in kinds

    timers = cli("scheduler", "list", "--connection-string", url, "-o", "json").json()
    assert [t["name"] for t in timers] == ["workflow/testapp/timer-1/timer-1"]

    other = cli(
        "workflow", "list", "--app-id", "testapp", "--connection-string", keywords,
        "--table-name", "elsewhere", "-o", "json",
    ).json()  # fmt: skip
    assert other == []
