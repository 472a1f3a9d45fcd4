"""A result that arrives late (a duplicate, or one whose work item was sent twice) belongs to the
execution it was issued for: after a continue-as-new it must not settle the new execution's
task with the same task ID, whose work item would then be lost with its stream.

The engine runs in-process on a real SQLite file, its worker played by the test through the
dispatcher streams, so the order of every answer is fixed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tether import pb
from tether.engine.engine import Engine
from tether.settings import Settings
from tether.store import open_store


def _schedule_step(item: Any) -> Any:
    response = pb.WorkflowResponse(instanceId="i1", completionToken=item.completionToken)
    response.actions.add(id=1).scheduleTask.name = "step"
    return response


def _finish(item: Any, status: int, value: str) -> Any:
    response = pb.WorkflowResponse(instanceId="i1", completionToken=item.completionToken)
    action = response.actions.add(id=2)
    action.completeWorkflow.workflowStatus = status
    action.completeWorkflow.result.value = value
    return response


def _result(item: Any, value: str) -> Any:
    return pb.ActivityResponse(
        instanceId="i1",
        taskId=item.activityRequest.taskId,
        result=pb.StringValue(value=value),
        completionToken=item.completionToken,
    )


async def _next(stream: Any, field: str) -> Any:
    item = await asyncio.wait_for(stream.queue.get(), 10)
    assert item.HasField(field), item
    return item


def test_a_late_result_of_an_old_execution_leaves_the_new_executions_task_alone(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        settings = Settings(
            app_id="late", grpc_port=0, http_port=0, store_url=f"sqlite:///{tmp_path / 't.db'}"
        )
        store = open_store(settings.store_url)
        engine = Engine(settings, store)
        await engine.start()
        try:
            stream = engine.connect_worker([])
            await engine.create_instance("wf", "i1", None, wait=False)
            await engine.complete_turn(_schedule_step(await _next(stream, "workflowRequest")))
            old_task = await _next(stream, "activityRequest")
            await engine.complete_activity(_result(old_task, "1"))
            turn = await _next(stream, "workflowRequest")
            await engine.complete_turn(_finish(turn, pb.CONTINUED_AS_NEW, "1"))
            # The new execution schedules its own task 1.
            await engine.complete_turn(_schedule_step(await _next(stream, "workflowRequest")))
            new_task = await _next(stream, "activityRequest")
            assert new_task.activityRequest.taskId == old_task.activityRequest.taskId

            # The old execution's result again, as a duplicated completion delivers it.
            await engine.complete_activity(_result(old_task, "1"))
            # The stream breaks before the new task is answered: its item must be sent again.
            engine.disconnect_worker(stream)
            again = engine.connect_worker([])
            resent = await _next(again, "activityRequest")
            assert resent.activityRequest.taskId == new_task.activityRequest.taskId
            assert resent.completionToken.endswith(new_task.completionToken.partition(".")[2])

            await engine.complete_activity(_result(resent, "2"))
            await engine.complete_turn(
                _finish(await _next(again, "workflowRequest"), pb.COMPLETED, '"done"')
            )
            row = await engine.get_instance("i1")
            assert row is not None and row.status == pb.COMPLETED
            tasks = await store.read(lambda tx: tx.load_tasks("i1"))
            assert tasks == []
        finally:
            await engine.stop()
            await store.close()

    asyncio.run(scenario())
