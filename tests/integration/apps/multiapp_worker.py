"""SDK worker processes for the multi-app test: ``python multiapp_worker.py APP_ID RECORD_FILE``.

app1 hosts the parent workflows, app2 the child workflows, app3 the activities. Calls across
apps name the target with the SDK's ``app_id=`` argument (``WorkflowAction.router.targetAppID``).
app3 appends ``<activity> <instance> <unix time>`` to RECORD_FILE when an activity starts, so the
test can time the app2 -> app3 hop.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

APP = sys.argv[1]
RECORD = sys.argv[2]

runtime = wf.WorkflowRuntime()
retry = wf.RetryPolicy(
    first_retry_interval=timedelta(milliseconds=100),
    max_number_of_attempts=3,
    backoff_coefficient=1,
)


def record(line: str) -> None:
    with open(RECORD, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


if APP == "app1":

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        result = yield ctx.call_child_workflow("child", input=text, app_id="app2")
        return f"app1({result})"

    @runtime.workflow(name="parent_of_failing")
    def parent_of_failing(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        try:
            yield ctx.call_child_workflow("child_fails", input=text, app_id="app2")
        except wf.TaskFailedError as exc:
            details = exc.details
            return {
                "caught": type(exc).__name__,
                "type": details.error_type,
                "message": details.message,
            }
        return "not reached"

    @runtime.workflow(name="parent_fails")
    def parent_fails(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        result = yield ctx.call_child_workflow("child_fails", input=text, app_id="app2")
        return result

elif APP == "app2":

    @runtime.workflow(name="child")
    def child(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        shouted = yield ctx.call_activity("shout", input=text, app_id="app3")
        return f"app2({shouted})"

    @runtime.workflow(name="child_catches")
    def child_catches(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        try:
            yield ctx.call_activity("always_fails", input=text, app_id="app3", retry_policy=retry)
        except wf.TaskFailedError as exc:
            details = exc.details
            return {
                "caught": type(exc).__name__,
                "type": details.error_type,
                "message": details.message,
            }
        return "not reached"

    @runtime.workflow(name="child_fails")
    def child_fails(ctx: wf.DaprWorkflowContext, text: str) -> Any:
        result = yield ctx.call_activity(
            "always_fails", input=text, app_id="app3", retry_policy=retry
        )
        return result

elif APP == "app3":

    @runtime.activity(name="shout")
    def shout(ctx: wf.WorkflowActivityContext, text: str) -> str:
        record(f"shout {ctx.workflow_id} {time.time():.6f}")
        return f"app3({text.upper()}!)"

    @runtime.activity(name="always_fails")
    def always_fails(ctx: wf.WorkflowActivityContext, text: str) -> str:
        record(f"always_fails {ctx.workflow_id} {time.time():.6f}")
        raise ValueError(f"app3 cannot handle {text!r}")

else:
    raise SystemExit(f"unknown app {APP!r}")


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main()
