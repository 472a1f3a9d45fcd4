"""The workflows the HTTP tests drive, and a worker process serving them.

``python -m tests.http.workflows GRPC_PORT`` runs a ``WorkflowRuntime`` with these workflows
until its standard input closes. The fuzz test uses it so that no SDK thread shares the test
process with Hypothesis. On CPython 3.11.7, Hypothesis describing a lambda (it parses the source)
failed once with "AST constructor recursion depth mismatch"; the likely trigger is another thread
building an AST meanwhile, such as the SDK formatting a traceback (3.11 parses source lines for
its caret anchors) for the unknown workflows the fuzzer starts.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any


def register_workflows(runtime: Any) -> None:
    """The workflows the HTTP tests drive."""
    import dapr.ext.workflow as wf

    @runtime.activity(name="greet")
    def greet(ctx: wf.WorkflowActivityContext, name: str) -> str:
        return f"Hello {name}"

    @runtime.workflow(name="hello")
    def hello(ctx: wf.DaprWorkflowContext, name: str) -> Any:
        greeting = yield ctx.call_activity(greet, input=name)
        return greeting

    @runtime.workflow(name="boom")
    def boom(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        raise ValueError("kaput")

    @runtime.workflow(name="waiter")
    def waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        ctx.set_custom_status("waiting")
        data = yield ctx.wait_for_external_event("go")
        return {"got": data}

    @runtime.workflow(name="OrderProcessingWorkflow")
    def order_processing(ctx: wf.DaprWorkflowContext, order: Any) -> Any:
        ctx.set_custom_status("awaiting approval")
        approval = yield ctx.wait_for_external_event("approval")
        ctx.set_custom_status(f"approved: {approval}")
        shipped = yield ctx.wait_for_external_event("shipped")
        return {"order": order, "approval": approval, "shipped": shipped}

    @runtime.workflow(name="sleeper")
    def sleeper(ctx: wf.DaprWorkflowContext, seconds: Any) -> Any:
        yield ctx.create_timer(timedelta(seconds=float(seconds)))
        return "woke"

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        child = yield ctx.call_child_workflow(
            waiter, input=None, instance_id=f"{ctx.instance_id}-child"
        )
        return child


def main() -> None:
    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=sys.argv[1])
    register_workflows(runtime)
    runtime.start()
    try:
        sys.stdin.read()
    finally:
        runtime.shutdown()


if __name__ == "__main__":
    main()
