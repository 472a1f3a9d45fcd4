"""Smoke scenarios for older Python SDKs, run inside their own virtualenv.

``python old_sdk_smoke.py FLAVOUR PORT`` where FLAVOUR is ``durabletask`` (durabletask-dapr 0.17.x,
old message names) or ``dapr-ext`` (dapr-ext-workflow 1.18.x). Worker and client both run in this
process against the tether on 127.0.0.1:PORT. Prints one JSON object on the last line of stdout.
Never import the other flavour here: both register the same protobuf symbols.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

FLAVOUR, PORT = sys.argv[1], sys.argv[2]
ADDRESS = f"127.0.0.1:{PORT}"


def double(ctx: Any, x: int) -> int:
    return x * 2


def chain(ctx: Any, x: int) -> Any:
    a = yield ctx.call_activity(double, input=x)
    b = yield ctx.call_activity(double, input=a)
    c = yield ctx.call_activity(double, input=b)
    return [a, b, c]


def approval(ctx: Any, _: Any) -> Any:
    answer = yield ctx.wait_for_external_event("approval")
    return {"approved": answer}


def sleeper(ctx: Any, seconds: float) -> Any:
    yield ctx.create_timer(timedelta(seconds=seconds))
    return "woke"


def run_durabletask() -> dict[str, Any]:
    from durabletask import client, worker

    w = worker.TaskHubGrpcWorker(host_address=ADDRESS)
    for fn in (chain, approval, sleeper):
        w.add_orchestrator(fn)
    w.add_activity(double)
    w.start()
    c = client.TaskHubGrpcClient(host_address=ADDRESS)
    try:
        return scenarios(
            start=lambda wf, inp, iid: c.schedule_new_orchestration(wf, input=inp, instance_id=iid),
            wait=lambda iid: c.wait_for_orchestration_completion(iid, timeout=60),
            get=lambda iid: c.get_orchestration_state(iid),
            raise_event=lambda iid, name, data: c.raise_orchestration_event(iid, name, data=data),
            status=lambda s: s.runtime_status.name,
        )
    finally:
        w.stop()


def run_dapr_ext() -> dict[str, Any]:
    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=PORT)
    for fn in (chain, approval, sleeper):
        runtime.register_workflow(fn)
    runtime.register_activity(double)
    runtime.start()
    c = wf.DaprWorkflowClient(host="127.0.0.1", port=PORT)
    try:
        return scenarios(
            start=lambda w, inp, iid: c.schedule_new_workflow(w, input=inp, instance_id=iid),
            wait=lambda iid: c.wait_for_workflow_completion(iid, timeout_in_seconds=60),
            get=lambda iid: c.get_workflow_state(iid),
            raise_event=lambda iid, name, data: c.raise_workflow_event(iid, name, data=data),
            status=lambda s: s.runtime_status.name,
        )
    finally:
        runtime.shutdown()


def scenarios(start: Any, wait: Any, get: Any, raise_event: Any, status: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    start(chain, 3, "old-chain")
    state = wait("old-chain")
    out["chain"] = {"status": status(state), "output": state.serialized_output}

    start(approval, None, "old-event")
    running = get("old-event")
    out["event_before"] = status(running)
    raise_event("old-event", "approval", "yes")
    state = wait("old-event")
    out["event"] = {"status": status(state), "output": state.serialized_output}

    t0 = time.monotonic()
    start(sleeper, 1.0, "old-timer")
    state = wait("old-timer")
    out["timer"] = {
        "status": status(state),
        "output": state.serialized_output,
        "seconds": time.monotonic() - t0,
    }

    state = get("old-chain")
    out["read_status"] = {
        "status": status(state),
        "input": state.serialized_input,
        "output": state.serialized_output,
        "missing": get("old-no-such-instance") is None,
    }
    return out


if __name__ == "__main__":
    result = run_durabletask() if FLAVOUR == "durabletask" else run_dapr_ext()
    print(json.dumps(result), flush=True)
