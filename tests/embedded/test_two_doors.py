"""One engine, two doors: an embedded node and a `tether serve` sidecar on one store.

The embedded node (app "alpha", also serving its ports) runs a workflow that calls an activity
of app "beta", whose worker is the official SDK connected over gRPC to a sidecar process. The
sidecar, the CLI and the embedded node's HTTP API all see the embedded node's instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dapr.ext.workflow as sdk
import httpx

import tether.embedded as wf
from tether.testing import SidecarProcess


def test_embedded_and_sidecar_nodes_share_a_store(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    beta = SidecarProcess(db, app_id="beta", home=tmp_path / "home").start()
    beta_runtime = sdk.WorkflowRuntime(host="127.0.0.1", port=str(beta.grpc_port))

    @beta_runtime.activity(name="shout")
    def shout(ctx: Any, text: str) -> str:
        return text.upper()

    beta_runtime.start()
    alpha = wf.WorkflowRuntime(app_id="alpha", store=str(db), serve=True)

    @alpha.workflow(name="greet")
    def greet(ctx: wf.DaprWorkflowContext, name: str) -> Any:
        loud = yield ctx.call_activity("shout", input=f"hello {name}", app_id="beta")
        return loud

    alpha.start()
    client = wf.DaprWorkflowClient(app_id="alpha", store=str(db))
    try:
        iid = client.schedule_new_workflow(greet, input="ada", instance_id="greet-1")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        assert state is not None and state.serialized_output == '"HELLO ADA"'

        # The sidecar process reads the embedded node's instance from the store.
        other = sdk.DaprWorkflowClient(host="127.0.0.1", port=str(beta.grpc_port))
        seen = other.get_workflow_state(iid)
        assert seen is not None and seen.runtime_status == sdk.WorkflowStatus.COMPLETED

        # The embedded node serves Dapr's HTTP API.
        url = f"http://127.0.0.1:{alpha.node.http_port}/v1.0/workflows/dapr/{iid}"
        body = httpx.get(url, timeout=10).json()
        assert body["runtimeStatus"] == "COMPLETED"

        # The CLI works on the store directly.
        env = dict(os.environ, TETHER_HOME=str(tmp_path / "home"))
        listed = subprocess.run(
            [sys.executable, "-m", "tether", "workflow", "list", "--app-id", "alpha",
             "--connection-string", f"sqlite:///{db}", "-o", "json"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert iid in json.dumps(json.loads(listed.stdout))
    finally:
        client.close()
        alpha.shutdown()
        beta_runtime.shutdown()
        beta.stop()
