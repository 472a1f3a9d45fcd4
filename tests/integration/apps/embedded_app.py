"""An app with the tether engine embedded, for the crash test.

``start STORE COUNT``: start COUNT chained workflows one after another, printing ``ACK <id>``
(flushed) once each start has returned, i.e. is acknowledged; then wait forever.
``resume STORE IDS_FILE``: start the runtime only, print ``UNFINISHED <n>`` (how many listed
workflows had not completed when it came up), wait for every listed workflow, print one JSON
line per workflow (id, status, output) and exit.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import tether.embedded as wf

STEPS = 5


def build(store: str) -> tuple[Any, Any]:
    runtime = wf.WorkflowRuntime(app_id="crashapp", store=store)

    @runtime.workflow(name="chain")
    def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        for _ in range(STEPS):
            x = yield ctx.call_activity(step, input=x)
        return x

    @runtime.activity(name="step")
    def step(ctx: Any, x: int) -> int:
        time.sleep(0.02)
        return x + 1

    return runtime, chain


def main() -> None:
    mode, store, arg = sys.argv[1:4]
    runtime, chain = build(store)
    runtime.start()
    client = wf.DaprWorkflowClient(app_id="crashapp", store=store)
    if mode == "start":
        for n in range(int(arg)):
            instance_id = f"wf-{n}"
            client.schedule_new_workflow(chain, input=n, instance_id=instance_id)
            print(f"ACK {instance_id}", flush=True)
        while True:
            time.sleep(1)
    with open(arg) as listing:
        ids = [line.strip() for line in listing if line.strip()]
    unfinished = 0
    for instance_id in ids:
        state = client.get_workflow_state(instance_id)
        unfinished += state is None or state.runtime_status.name != "COMPLETED"
    print(f"UNFINISHED {unfinished}", flush=True)
    for instance_id in ids:
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=120)
        status = state.runtime_status.name if state is not None else None
        output = state.serialized_output if state is not None else None
        print(json.dumps({"id": instance_id, "status": status, "output": output}), flush=True)
    client.close()
    runtime.shutdown()


if __name__ == "__main__":
    main()
