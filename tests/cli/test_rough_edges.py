"""What a newcomer runs into first: piping into ``head``, instances of an app nobody serves,
and what ``raise-event --input`` delivers."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from tests.cli.conftest import APP_ID, Cli
from tether.testing import SidecarProcess


def test_output_into_a_closed_pipe_ends_quietly(cli: Cli, app: Any, wf_client: Any) -> None:
    for i in range(3):
        wf_client.schedule_new_workflow("HelloWorkflow", input=i, instance_id=f"pipe-{i}")
        wf_client.wait_for_workflow_completion(f"pipe-{i}", timeout_in_seconds=30)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as `| head` after its lines
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tether", "workflow", "history", "pipe-0", "-o", "json"],
            env=cli.env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 141


def test_an_instance_of_an_app_nobody_serves(cli: Cli, sidecar: SidecarProcess) -> None:
    # Routed to an app with no tether: it waits PENDING (a known difference from Dapr).
    r = httpx.post(
        f"http://127.0.0.1:{sidecar.http_port}/v1.0/workflows/dapr/Anything/start",
        params={"instanceID": "ghost-1", "appID": "nobody"},
        content='"x"',
        timeout=10,
    )
    assert r.status_code == 202, r.text
    detail = cli("workflow", "get", "ghost-1", "-a", APP_ID, "-o", "json").json()
    assert detail["appID"] == "nobody" and detail["runtimeStatus"] == "PENDING"
    assert "App ID:" in cli("workflow", "get", "ghost-1").out
    assert "nobody" in cli("workflow", "get", "ghost-1").out
    listed = cli("workflow", "list", "-o", "json").json()
    assert [(row["instanceID"], row["appID"]) for row in listed] == [("ghost-1", "nobody")]
    assert cli("workflow", "list", "-a", APP_ID, "-o", "ids").out.split() == []
    # Terminate is stored, but nothing runs the instance: the CLI says so instead of "success".
    r = cli("workflow", "terminate", "ghost-1")
    assert "termination is queued" in r.out and "PENDING" in r.out and "'nobody'" in r.out
    assert "successfully" not in r.out
    assert cli("workflow", "get", "ghost-1", "-o", "json").json()["runtimeStatus"] == "PENDING"
    # A forced purge applies at once: no live node owns the instance.
    r = cli("workflow", "purge", "ghost-1", "--force")
    assert 'Purged workflow instance "ghost-1"' in r.out
    assert "not found" in cli("workflow", "get", "ghost-1", ok=False).err


def test_raise_event_help_says_what_input_delivers(cli: Cli) -> None:
    text = cli("workflow", "raise-event", "--help").out
    assert "JSON string" in text and "json.loads" in text
    assert "raiseEvent" in text and "-d '{\"approved\": true}'" in text
