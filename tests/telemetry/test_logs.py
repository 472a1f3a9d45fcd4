"""``tether serve --log-as-json``: each state change of an instance is one line with its ids."""

from __future__ import annotations

import json
from pathlib import Path

import dapr.ext.workflow as wf

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tests.telemetry.test_otlp_export import worker
from tether import pb
from tether.testing import SidecarProcess


def test_state_changes_are_logged_with_instance_app_and_trace_ids(tmp_path: Path) -> None:
    log_path = tmp_path / "tether.log"
    sidecar = SidecarProcess(
        tmp_path / "tether.db", extra_args=["--log-as-json"], log_path=log_path
    ).start()
    app = worker(sidecar)
    try:
        trace_id = 0x0AF7651916CD43DD8448EB211C80319C
        request = pb.CreateInstanceRequest(name="chain", instanceId="logged")
        request.input.value = "1"
        request.parentTraceContext.traceParent = f"00-{trace_id:032x}-{0xB7AD6B7169203331:016x}-01"
        Raw(sidecar.grpc_port).call("StartInstance", request)
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
        client.wait_for_workflow_completion("logged", timeout_in_seconds=30)

        def changes() -> list[dict[str, str]] | None:
            lines = [
                json.loads(line)
                for line in log_path.read_text().splitlines()
                if line.startswith("{")
            ]
            found = [b for b in lines if b.get("instance_id") == "logged"]
            return found if any("COMPLETED" in b["msg"] for b in found) else None

        found = wait_until(changes)
        assert [b["msg"].split(" is ")[1] for b in found] == [
            "RUNNING (was PENDING)",
            "COMPLETED (was RUNNING)",
        ]
        assert {(b["app_id"], b["trace_id"], b["level"]) for b in found} == {
            ("testapp", f"{trace_id:032x}", "info")
        }
    finally:
        assert app.stdin is not None
        app.stdin.close()
        app.wait(20)
        sidecar.stop()
