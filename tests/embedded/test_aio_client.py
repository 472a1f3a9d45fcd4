"""The asyncio client on the embedded node: the same calls, results and errors as over gRPC."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

import tether.embedded as wf
from tether.embedded.aio import DaprWorkflowClient


def test_the_asyncio_client_drives_workflows_on_the_embedded_node(tmp_path: Path) -> None:
    store = str(tmp_path / "aio.db")
    runtime = wf.WorkflowRuntime(app_id="aio", store=store)

    @runtime.workflow(name="gate")
    def gate(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        doubled = yield ctx.call_activity(double, input=x)
        bonus = yield ctx.wait_for_external_event("bonus")
        return doubled + bonus

    @runtime.activity(name="double")
    async def double(ctx: Any, x: int) -> int:  # async: runs on the engine's loop
        await asyncio.sleep(0)
        return 2 * x

    runtime.start()

    async def scenario() -> None:
        client = DaprWorkflowClient(app_id="aio", store=store)
        try:
            iid = await client.schedule_new_workflow(gate, input=21, instance_id="g-1")
            await client.wait_for_workflow_start(iid, timeout_in_seconds=30)
            await client.raise_workflow_event(iid, "bonus", data=1)
            state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            assert state is not None, "no state"
            assert state.serialized_output == "43", state.runtime_status
            assert await client.get_workflow_state("no-such-instance") is None
            with pytest.raises(grpc.RpcError) as info:
                await client.schedule_new_workflow("", instance_id="bad")
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            await client.purge_workflow(iid)
            assert await client.get_workflow_state(iid) is None
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        runtime.shutdown()
