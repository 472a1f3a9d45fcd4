"""A caller that hangs up while its change is being committed (gRPC cancels the handler) must not
leave the engine's memory behind the store.

The engine runs in-process on a real SQLite file. The writer thread is held inside a job so a
turn's commit is queued behind it; the completion's handler is then cancelled, the writer let go,
and the instance must end up retired from memory with its commit applied.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from tests.conftest import until
from tether import pb
from tether.engine.engine import Engine
from tether.protocol.servicer import Servicer
from tether.settings import Settings
from tether.store import open_store


def test_a_completion_cancelled_mid_commit_still_reaches_memory(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(
            app_id="hangups", grpc_port=0, http_port=0, store_url=f"sqlite:///{tmp_path / 't.db'}"
        )
        store = open_store(settings.store_url)
        engine = Engine(settings, store)
        await engine.start()
        try:
            stream = engine.connect_worker([])
            await engine.create_instance("wf", "i1", None, wait=False)
            item = await asyncio.wait_for(stream.queue.get(), 10)
            response = pb.WorkflowResponse(instanceId="i1", completionToken=item.completionToken)
            action = response.actions.add(id=1)
            action.completeWorkflow.workflowStatus = pb.COMPLETED

            inside, release = threading.Event(), threading.Event()

            def hold(tx: object) -> None:
                inside.set()
                release.wait(10)

            held = asyncio.ensure_future(store.write(hold))
            await asyncio.get_running_loop().run_in_executor(None, inside.wait, 10)
            call = asyncio.ensure_future(Servicer(engine).CompleteOrchestratorTask(response, None))
            await until(lambda: engine.active["i1"].committing)
            call.cancel()  # the worker hung up; its turn's commit is queued behind `hold`
            release.set()
            await held
            await until(lambda: "i1" not in engine.active)
            row = await engine.get_instance("i1")
            assert row is not None and row.status == pb.COMPLETED
        finally:
            await engine.stop()
            await store.close()

    asyncio.run(scenario())
