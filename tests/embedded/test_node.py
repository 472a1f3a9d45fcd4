"""Which node an embedded runtime or client uses, and what it refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import tether.embedded as wf
from tether.errors import ConfigError


def test_runtime_and_client_share_the_node_of_tether_store_and_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("TETHER_STORE", f"sqlite:///{db}")
    monkeypatch.setenv("APP_ID", "envapp")
    runtime = wf.WorkflowRuntime()

    @runtime.workflow(name="hi")
    def hi(ctx: wf.DaprWorkflowContext, name: str) -> Any:
        return f"hi {name}"
        yield  # a generator, as workflows are

    runtime.start()
    client = wf.DaprWorkflowClient()
    try:
        assert client._tether_node is runtime.node
        iid = client.schedule_new_workflow(hi, input="env", instance_id="from-env")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.serialized_output == '"hi env"'
    finally:
        client.close()
        runtime.shutdown()
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT app_id FROM instances WHERE instance_id = 'from-env'").fetchone()
    assert row == ("envapp",)


def test_asking_for_ports_after_a_portless_node_started_is_refused(tmp_path: Path) -> None:
    store = str(tmp_path / "ports.db")
    client = wf.DaprWorkflowClient(app_id="late", store=store)
    runtime = wf.WorkflowRuntime(app_id="late", store=store, serve=True)
    try:
        with pytest.raises(ConfigError, match="serve=True"):
            runtime.start()
    finally:
        runtime.shutdown()
        client.close()
