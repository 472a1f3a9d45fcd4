"""An SDK worker process for the crash tests: a five-step activity chain.

Run as ``python chain_worker.py RECORD_FILE`` with ``DAPR_GRPC_PORT``/``DAPR_RUNTIME_HOST`` set.
Every activity execution appends ``start <instance> <step>`` before running and
``done <instance> <step>`` after, flushed and fsynced, so the test can count runs even
across SIGKILLs of either process.

Environment knobs:
  CHAIN_STEP_SECONDS  how long each step sleeps (default 0.2), so kills land mid-activity
  CHAIN_HANG_ACTIVITY step number whose activity blocks forever (the worker is then killed)
  CHAIN_HANG_TURN     "1": the workflow's first non-replayed turn blocks forever
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
# The record file: set by main() (the test imports this module for STEPS and expected_output).
RECORD = ""
STEP_SECONDS = float(os.environ.get("CHAIN_STEP_SECONDS", "0.2"))
HANG_ACTIVITY = int(os.environ.get("CHAIN_HANG_ACTIVITY", "0"))
HANG_TURN = os.environ.get("CHAIN_HANG_TURN") == "1"

_lock = threading.Lock()


def record(line: str) -> None:
    with _lock, open(RECORD, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def expected_output(x: int) -> int:
    """What ``chain`` returns for input ``x`` (the test imports this)."""
    for step in range(1, STEPS + 1):
        x = x * 3 + step
    return x


runtime = wf.WorkflowRuntime()


@runtime.workflow(name="chain")
def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    if HANG_TURN and not ctx.is_replaying:
        record(f"turn {ctx.instance_id} 0")
        threading.Event().wait()  # the test kills this worker mid-turn
    for step in range(1, STEPS + 1):
        x = yield ctx.call_activity(step_activity, input=[ctx.instance_id, step, x])
    return x


@runtime.activity(name="step")
def step_activity(ctx: wf.WorkflowActivityContext, args: list[Any]) -> int:
    instance_id, step, x = args
    record(f"start {instance_id} {step}")
    if step == HANG_ACTIVITY:
        threading.Event().wait()  # the test kills this worker mid-activity
    time.sleep(STEP_SECONDS)
    record(f"done {instance_id} {step}")
    return int(x) * 3 + int(step)


def main() -> None:
    global RECORD
    RECORD = sys.argv[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    record("worker ready -1")
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main()
