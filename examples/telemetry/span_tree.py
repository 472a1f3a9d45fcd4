"""Print the span tree tether exports for one sample workflow, and an excerpt of its metrics.

    python examples/telemetry/span_tree.py        (needs tether[otel])

A ``tether serve`` on a throwaway SQLite store exports its spans over OTLP/gRPC to a receiver
this script runs (``tether.testing.otlp``); an official SDK worker runs an order workflow (two
chained activities, a child workflow, a durable timer); the script prints the spans as a tree
with their durations, then the workflow lines of ``GET /metrics``.
"""

from __future__ import annotations

import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf

from tether.testing import SidecarProcess
from tether.testing.otlp import GrpcReceiver, ReceivedSpan


def build(runtime: wf.WorkflowRuntime) -> None:
    @runtime.activity(name="reserve")
    def reserve(ctx: Any, item: str) -> str:
        return f"reserved {item}"

    @runtime.activity(name="charge")
    def charge(ctx: Any, amount: int) -> str:
        return f"charged {amount}"

    @runtime.workflow(name="ship")
    def ship(ctx: wf.DaprWorkflowContext, item: str) -> Any:
        yield ctx.create_timer(timedelta(milliseconds=200))
        return f"shipped {item}"

    @runtime.workflow(name="order")
    def order(ctx: wf.DaprWorkflowContext, item: str) -> Any:
        reserved = yield ctx.call_activity(reserve, input=item)
        charged = yield ctx.call_activity(charge, input=42)
        shipped = yield ctx.call_child_workflow(ship, input=item)
        return [reserved, charged, shipped]


def tree(spans: list[ReceivedSpan]) -> list[str]:
    children: dict[int | None, list[ReceivedSpan]] = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_ns):
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in children.get(parent, []):
            took = (span.end_ns - span.start_ns) / 1e6
            status = " ERROR" if span.error else ""
            iid = span.attributes.get("workflow.instance_id", "")
            lines.append(f"{'  ' * depth}{span.name}  {took:.1f} ms{status}  [{iid}]")
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return lines


def main() -> None:
    receiver = GrpcReceiver()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = SidecarProcess(
            Path(tmp) / "tether.db",
            app_id="shop",
            extra_args=["--tracing-endpoint", receiver.endpoint, "--tracing-protocol", "grpc"],
            env={"OTEL_BSP_SCHEDULE_DELAY": "50"},
        ).start()
        runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port))
        build(runtime)
        runtime.start()
        try:
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
            client.schedule_new_workflow("order", input="lamp", instance_id="order-1")
            state = client.wait_for_workflow_completion("order-1", timeout_in_seconds=60)
            assert state is not None, "the workflow did not finish"
            print(f"order-1: {state.runtime_status.name} {state.serialized_output}\n")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # spans are exported when each execution ends
                roots = [s for s in receiver.spans() if s.name.startswith("workflow||")]
                if len(roots) >= 2:
                    break
                time.sleep(0.05)
            print("\n".join(tree(receiver.spans())))
            url = f"http://127.0.0.1:{sidecar.http_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            print("\nGET /metrics (workflow lines):")
            for line in text.splitlines():
                if line.startswith("dapr_runtime_workflow_") and "_bucket" not in line:
                    print(line)
        finally:
            runtime.shutdown()
            sidecar.stop()
            receiver.stop()


if __name__ == "__main__":
    main()
