"""An SDK worker for the lease tests: a three-step chain, optionally gated on an event.

Run as ``python lease_worker.py`` with ``DAPR_GRPC_PORT``/``DAPR_RUNTIME_HOST`` set.
``LEASE_STEP_SECONDS`` sets how long each step sleeps (default 0.1).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import dapr.ext.workflow as wf

STEPS = 3
STEP_SECONDS = float(os.environ.get("LEASE_STEP_SECONDS", "0.1"))


def expected_output(x: int) -> int:
    for step in range(1, STEPS + 1):
        x = x * 3 + step
    return x


runtime = wf.WorkflowRuntime()


@runtime.workflow(name="chain")
def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    for step in range(1, STEPS + 1):
        x = yield ctx.call_activity(step_activity, input=[step, x])
    return x


@runtime.workflow(name="gated")
def gated(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    bonus = yield ctx.wait_for_external_event("go")
    x = yield ctx.call_activity(step_activity, input=[1, int(x) + int(bonus)])
    return x


@runtime.activity(name="step")
def step_activity(ctx: wf.WorkflowActivityContext, args: list[Any]) -> int:
    step, x = args
    time.sleep(STEP_SECONDS)
    return int(x) * 3 + int(step)


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main()
