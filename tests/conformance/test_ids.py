"""One instance-ID rule on every front door (core.ids): gRPC refuses what HTTP refuses to store
safely, the SDKs' own IDs (UUIDs, child IDs ``parent:0001``) keep working, and the CLI prints
untrusted strings with control characters escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import grpc
import httpx
import pytest

from tests.cli.conftest import Cli
from tests.conformance._support import Raw, rpc_error
from tether import pb
from tether.testing import SidecarProcess

BAD_IDS = ["a\x00b", "two\nlines", "\x1b[2Jclear", "has space", "x" * (1 << 20)]


@pytest.mark.parametrize("bad", BAD_IDS, ids=["nul", "newline", "ansi", "space", "1MB"])
def test_grpc_refuses_ids_that_break_the_rule(sidecar: SidecarProcess, bad: str) -> None:
    raw = Raw(sidecar.grpc_port, [("grpc.max_send_message_length", 8 << 20)])
    try:
        err = rpc_error(lambda: raw.start("w", bad))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "instanceId" in (err.details() or "")
        assert "\x1b" not in (err.details() or "") and len(err.details() or "") < 500
        ids = raw.call("ListInstanceIDs", pb.ListInstanceIDsRequest()).instanceIds
        assert list(ids) == []
    finally:
        raw.close()


def test_sdk_ids_and_child_ids_work_everywhere(
    sidecar: SidecarProcess, wf_runtime: Any, wf_client: wf.DaprWorkflowClient
) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="leaf")
    def leaf(ctx: wf.DaprWorkflowContext, x: int) -> int:
        return x + 1

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        return (yield ctx.call_child_workflow(leaf, input=x))

    runtime.start()
    generated = wf_client.schedule_new_workflow(parent, input=1)  # the SDK's uuid4().hex
    state = wf_client.wait_for_workflow_completion(generated, timeout_in_seconds=30)
    assert state is not None and state.serialized_output == "2"
    child = f"{generated}:0001"  # the SDK numbers the child after the parent
    child_state = wf_client.get_workflow_state(child)
    assert child_state is not None and child_state.serialized_output == "2"
    with httpx.Client(base_url=f"http://127.0.0.1:{sidecar.http_port}", timeout=30) as http:
        assert http.get(f"/v1.0/workflows/dapr/{child}").json()["instanceID"] == child
        # HTTP starts keep Dapr's own stricter rule.
        r = http.post("/v1.0/workflows/dapr/leaf/start", params={"instanceID": "a:b"})
        assert r.status_code == 400 and r.json()["errorCode"] == "ERR_INSTANCE_ID_INVALID"


def test_cli_escapes_control_characters(sidecar: SidecarProcess, tmp_path: Path) -> None:
    raw = Raw(sidecar.grpc_port)
    try:
        raw.start("\x1b[2J\x1b[31mevil\nname\u202e", "plain-id")
    finally:
        raw.close()
    cli = Cli(sidecar.base_env(), tmp_path)
    for args in (["list"], ["list", "-o", "json"], ["list", "-o", "yaml"]):
        out = cli("workflow", *args, "--app-id", sidecar.app_id).out
        assert "plain-id" in out
        assert "\x1b" not in out and "\u202e" not in out, repr(out)
        assert "evil" in out
