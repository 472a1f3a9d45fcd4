"""The workflows the telemetry tests trace, and a worker process that serves them.

``python -m tests.telemetry.workflows GRPC_PORT [OTLP_ENDPOINT]`` runs a ``WorkflowRuntime``
with these workflows until its standard input closes; with ``OTLP_ENDPOINT``, OpenTelemetry in
the app's process exports over OTLP/HTTP there (so the activity spans the SDK worker creates
reach the test's receiver).
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta
from typing import Any

ATTEMPTS_BEFORE_SUCCESS = 2  # the flaky activity fails this many times, then succeeds
_flaky_calls: dict[str, int] = {}
_lock = threading.Lock()


def register_workflows(runtime: Any) -> None:
    import dapr.ext.workflow as wf

    @runtime.activity(name="step")
    def step(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x + 1

    @runtime.activity(name="flaky")
    def flaky(ctx: wf.WorkflowActivityContext, key: str) -> str:
        with _lock:
            _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
            calls = _flaky_calls[key]
        if calls <= ATTEMPTS_BEFORE_SUCCESS:
            raise RuntimeError(f"attempt {calls} fails")
        return f"ok after {calls}"

    @runtime.workflow(name="chain")
    def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        x = yield ctx.call_activity(step, input=x)
        x = yield ctx.call_activity(step, input=x)
        return x

    @runtime.workflow(name="fanout")
    def fanout(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        results = yield wf.when_all([ctx.call_activity(step, input=i) for i in range(n)])
        return sum(results)

    @runtime.workflow(name="parent")
    def parent(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        result = yield ctx.call_child_workflow(chain, input=x, instance_id=f"{ctx.instance_id}-c")
        return result

    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=20), max_number_of_attempts=5
    )

    @runtime.workflow(name="retrying")
    def retrying(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        result = yield ctx.call_activity(flaky, input=ctx.instance_id, retry_policy=policy)
        return result

    @runtime.workflow(name="sleeper")
    def sleeper(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.create_timer(timedelta(milliseconds=50))
        return "woke"

    @runtime.workflow(name="waiter")
    def waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        data = yield ctx.wait_for_external_event("go")
        return data

    @runtime.workflow(name="paused")
    def paused(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        x = yield ctx.call_activity(step, input=x)
        yield ctx.wait_for_external_event("go")
        x = yield ctx.call_activity(step, input=x)
        return x

    @runtime.workflow(name="failing")
    def failing(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        raise ValueError("kaput")

    @runtime.workflow(name="looper")
    def looper(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        n = yield ctx.call_activity(step, input=n)
        if n < 3:
            ctx.continue_as_new(n)
            return None
        return n


def _export_spans(endpoint: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "telemetry-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def main() -> None:
    import dapr.ext.workflow as wf

    provider = _export_spans(sys.argv[2]) if len(sys.argv) > 2 else None
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=sys.argv[1])
    register_workflows(runtime)
    runtime.start()
    print("ready", flush=True)
    sys.stdin.read()
    runtime.shutdown()
    if provider is not None:
        provider.shutdown()


if __name__ == "__main__":
    main()
