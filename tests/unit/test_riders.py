"""An activity result rides on the commit of the turn it starts (one write for both), and is
written on its own when that turn does not come in time; either way it is accepted exactly once.

The engine runs in-process on a real SQLite file, its worker played by the test through the
dispatcher stream, so the test decides when each answer arrives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import until
from tether import pb
from tether.core.state import InstanceState
from tether.engine import activities
from tether.engine.engine import Engine
from tether.engine.instances import Active, Rider
from tether.settings import Settings
from tether.store import open_store


class CountingStore:
    """The real store, counting its writes."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def write(self, fn: Any) -> Any:
        self.writes += 1
        return await self._store.write(fn)


def _schedule(item: Any) -> Any:
    response = pb.WorkflowResponse(instanceId="i1", completionToken=item.completionToken)
    action = response.actions.add(id=1)
    action.scheduleTask.name = "step"
    return response


def _complete(item: Any) -> Any:
    response = pb.WorkflowResponse(instanceId="i1", completionToken=item.completionToken)
    action = response.actions.add(id=2)
    action.completeWorkflow.workflowStatus = pb.COMPLETED
    action.completeWorkflow.result.value = '"done"'
    return response


def _run(tmp_path: Path, answer_late: bool) -> None:
    async def scenario() -> None:
        settings = Settings(
            app_id="riders", grpc_port=0, http_port=0, store_url=f"sqlite:///{tmp_path / 't.db'}"
        )
        store = CountingStore(open_store(settings.store_url))
        engine = Engine(settings, store)  # type: ignore[arg-type]
        await engine.start()
        try:
            stream = engine.connect_worker([])
            await engine.create_instance("wf", "i1", None, wait=False)
            first = await asyncio.wait_for(stream.queue.get(), 10)
            await engine.complete_turn(_schedule(first))
            task = await asyncio.wait_for(stream.queue.get(), 10)
            assert task.HasField("activityRequest")
            result = pb.ActivityResponse(
                instanceId="i1",
                taskId=task.activityRequest.taskId,
                result=pb.StringValue(value="7"),
                completionToken=task.completionToken,
            )
            writes = store.writes
            delivered = asyncio.ensure_future(engine.complete_activity(result))
            turn = await asyncio.wait_for(stream.queue.get(), 10)
            assert turn.HasField("workflowRequest")
            if answer_late:
                # The worker is slow: the result stops waiting and is written on its own.
                await until(lambda: store.writes > writes, activities._RIDE_WAIT + 10)
                await asyncio.wait_for(asyncio.shield(delivered), 10)
            else:
                assert not delivered.done()  # acknowledged only with the turn's commit
            await engine.complete_turn(_complete(turn))
            await asyncio.wait_for(delivered, 10)
            assert store.writes - writes == (2 if answer_late else 1)
            await until(lambda: "i1" not in engine.active)
            row = await engine.get_instance("i1")
            assert row is not None and row.status == pb.COMPLETED

            def stored(tx: Any) -> tuple[list[bytes], Any, Any]:
                return tx.load_history("i1"), tx.load_messages("i1"), tx.load_tasks("i1")

            history, inbox, tasks = await store.read(stored)
            events = [pb.HistoryEvent.FromString(b) for b in history]
            completed = [e for e in events if e.HasField("taskCompleted")]
            assert len(completed) == 1 and completed[0].taskCompleted.result.value == "7"
            assert inbox == [] and tasks == []
        finally:
            await engine.stop()
            await store.close()

    asyncio.run(scenario())


def test_a_result_rides_on_the_commit_of_the_turn_it_starts(tmp_path: Path) -> None:
    _run(tmp_path, answer_late=False)


def test_a_result_whose_turn_comes_late_is_written_on_its_own(tmp_path: Path) -> None:
    _run(tmp_path, answer_late=True)


def test_a_turn_waits_for_a_result_that_stopped_riding_while_the_turn_waited(
    tmp_path: Path,
) -> None:
    """A turn consumes a result that writes itself (not yet stored) and a rider. If the rider
    gives up while the turn waits for the first (its ride timed out, and it writes itself too),
    the turn must wait for that write as well: otherwise its commit could be queued ahead of the
    result's own write, delete an inbox row not there yet, and keep a result whose write may
    still fail. The interleaving is forced step by step, so it is the same on every run."""

    async def scenario() -> None:
        settings = Settings(
            app_id="riders", grpc_port=0, http_port=0, store_url=f"sqlite:///{tmp_path / 't.db'}"
        )
        store = open_store(settings.store_url)
        engine = Engine(settings, store)
        loop = asyncio.get_running_loop()
        try:
            for outcome_of_second in (True, False):
                state = InstanceState(instance_id="i", app_id="riders", name="w", execution_id="e")
                active = Active(state=state, epoch=1)
                engine.active["i"] = active
                first, second = loop.create_future(), loop.create_future()
                active.unsaved.update({1: first, 2: second})
                active.riders[2] = Rider(2, "i", "e", 2, loop.create_future())
                stored = asyncio.ensure_future(engine._stored(active, [1, 2]))
                await asyncio.sleep(0)  # the turn now waits for the first result's write
                assert not stored.done()
                active.unseat(2)  # the rider gives up and is written on its own
                _settle_write(active, 1, True)  # as a result's own write ends
                for _ in range(5):
                    await asyncio.sleep(0)
                assert not stored.done(), "the turn went on before the second result was stored"
                _settle_write(active, 2, outcome_of_second)
                assert await asyncio.wait_for(stored, 10) is outcome_of_second
        finally:
            await store.close()

    asyncio.run(scenario())


def _settle_write(active: Active, msg_id: int, ok: bool) -> None:
    active.unsaved.pop(msg_id).set_result(ok)
