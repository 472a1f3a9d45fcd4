"""An SDK worker for the cluster tests, run in a process of its own (so SIGKILL is real).

``python cluster_worker.py RECORD`` imports the SDK, reads the sidecar's gRPC port as one line from
standard input (so it can be started while its node is still coming up), and serves:

* ``chain``: five chained ``step`` activities, ``x -> x * 3 + step``, each taking
  ``$CLUSTER_STEP_SECONDS`` (default 0: as fast as it goes);
* ``long``: one ``slow`` activity sleeping ``seconds`` (the workload of the lease test).

Every activity execution appends ``run <instance> <step>`` to RECORD when it starts (one
``O_APPEND`` write per line, so lines of a killed process are whole or absent): re-runs show.
SIGTERM, or standard input closing, shuts the runtime down.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import dapr.ext.workflow as wf

STEPS = 5
STEP_SECONDS = float(os.environ.get("CLUSTER_STEP_SECONDS", "0"))


def expected_output(x: int) -> int:
    for step in range(1, STEPS + 1):
        x = x * 3 + step
    return x


_record_fd = -1


def _record(instance_id: str, step: int) -> None:
    os.write(_record_fd, f"run {instance_id} {step}\n".encode())


def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    for step in range(1, STEPS + 1):
        x = yield ctx.call_activity("step", input=[step, x])
    return x


def step_activity(ctx: wf.WorkflowActivityContext, args: list[Any]) -> int:
    step, x = args
    _record(ctx.workflow_id, int(step))
    if STEP_SECONDS:
        time.sleep(STEP_SECONDS)  # the workload: activities that take a while
    return int(x) * 3 + int(step)


def long_workflow(ctx: wf.DaprWorkflowContext, seconds: float) -> Any:
    slept = yield ctx.call_activity("slow", input=seconds)
    return slept


def slow_activity(ctx: wf.WorkflowActivityContext, seconds: float) -> str:
    _record(ctx.workflow_id, 1)
    time.sleep(float(seconds))  # the workload itself: an activity longer than the lease
    return f"slept {seconds}"


def main() -> None:
    global _record_fd
    _record_fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    port = sys.stdin.readline().strip()
    # Slow activities each hold a thread of the pool: give them enough to run side by side.
    threads = 32 if STEP_SECONDS else None
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port, maximum_thread_pool_workers=threads)
    runtime.register_workflow(chain, name="chain")
    runtime.register_activity(step_activity, name="step")
    runtime.register_workflow(long_workflow, name="long")
    runtime.register_activity(slow_activity, name="slow")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main()
