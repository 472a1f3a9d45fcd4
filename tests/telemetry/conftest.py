"""Fixtures for the telemetry tests: an in-process sidecar whose spans, and the spans the SDK worker
creates in this process, land in one in-memory OpenTelemetry exporter."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import wait_until
from tests.telemetry.workflows import register_workflows
from tether.testing import InProcessSidecar

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span of this process: the SDK worker's (global provider) and tether's."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)
    return _EXPORTER


@pytest.fixture
def traced(spans: InMemorySpanExporter, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start an in-process sidecar on a store under ``tmp_path`` that exports to ``spans``,
    with an SDK worker serving tests.telemetry.workflows; returns (sidecar, client)."""
    import dapr.ext.workflow as wf

    spans.clear()
    opened: list[tuple[InProcessSidecar, Any]] = []

    def start(**settings: Any) -> tuple[InProcessSidecar, Any]:
        sidecar = InProcessSidecar(tmp_path / "wf.db", **settings).start()
        sidecar.engine.observer.export_spans_to(SimpleSpanProcessor(spans))
        runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port))
        register_workflows(runtime)
        runtime.start()
        opened.append((sidecar, runtime))
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
        return sidecar, client

    try:
        yield start
    finally:
        for sidecar, runtime in reversed(opened):
            with contextlib.suppress(Exception):
                runtime.shutdown()
            with contextlib.suppress(RuntimeError):  # a test may have stopped it already
                sidecar.stop()


def tether_spans(exporter: InMemorySpanExporter, instance_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None
        and s.instrumentation_scope.name == "tether"
        and (s.attributes or {}).get("workflow.instance_id") == instance_id
    ]


def wait_for_workflow_span(
    exporter: InMemorySpanExporter, instance_id: str, count: int = 1
) -> list[ReadableSpan]:
    """Poll until the instance's execution span(s) were exported; return all its tether spans."""

    def ready() -> list[ReadableSpan] | None:
        found = tether_spans(exporter, instance_id)
        runs = [s for s in found if s.name.startswith("workflow||")]
        return found if len(runs) >= count else None

    result: list[ReadableSpan] = wait_until(ready)
    return result
