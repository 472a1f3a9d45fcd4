"""Export of built spans through the OpenTelemetry SDK (imported only when tracing is on).

Spans are made from history after the fact, with ids and times of their own, so they are handed
to the SDK as finished ``ReadableSpan`` objects: a batch processor exports them over OTLP (gRPC
or HTTP/protobuf) from its own thread, off the event loop.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from tether import __version__
from tether.errors import ConfigError
from tether.telemetry.spans import SpanRecord

_SCOPE = InstrumentationScope("tether", __version__)


def otlp_exporter(endpoint: str | None, protocol: str, secure: bool = False) -> SpanExporter:
    """An OTLP exporter; ``endpoint`` None leaves it to the standard ``OTEL_EXPORTER_OTLP_*``.
    ``secure`` (Dapr's ``otel.isSecure``) asks for TLS to an endpoint given without a scheme."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        if endpoint is None:
            return GrpcExporter()
        insecure = endpoint.startswith("http://") or ("://" not in endpoint and not secure)
        return GrpcExporter(endpoint=endpoint.split("://", 1)[-1], insecure=insecure)
    if protocol in ("http", "http/protobuf"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        if endpoint is None:
            return HttpExporter()
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        if not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        return HttpExporter(endpoint=endpoint)
    raise ConfigError(f"tracing_protocol: {protocol!r} is not one of grpc, http")


class SpanExport:
    def __init__(self, app_id: str, processor: SpanProcessor, owned: bool = False) -> None:
        service = os.environ.get("OTEL_SERVICE_NAME") or app_id
        self.resource = Resource.create({"service.name": service, "tether.app_id": app_id})
        self.processor = processor
        self.owned = owned  # shut down with tether; a caller's processor is only flushed

    @classmethod
    def batched(cls, app_id: str, exporter: SpanExporter) -> SpanExport:
        return cls(app_id, BatchSpanProcessor(exporter), owned=True)

    def export(self, records: list[SpanRecord]) -> None:
        for record in records:
            self.processor.on_end(self._readable(record))

    def _readable(self, r: SpanRecord) -> ReadableSpan:
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        context = trace.SpanContext(r.trace_id, r.span_id, is_remote=False, trace_flags=flags)
        parent = None
        if r.parent_id is not None:
            parent = trace.SpanContext(r.trace_id, r.parent_id, is_remote=True, trace_flags=flags)
        links = [
            trace.Link(trace.SpanContext(t, s, is_remote=True, trace_flags=flags))
            for t, s in r.links
        ]
        status = trace.Status(trace.StatusCode.UNSET)
        attributes: dict[str, Any] = dict(r.attributes)
        if r.error is not None:
            status = trace.Status(trace.StatusCode.ERROR, r.error)
            attributes["workflow.failure"] = r.error
        return ReadableSpan(
            name=r.name,
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            links=links,
            kind=trace.SpanKind.INTERNAL,
            status=status,
            start_time=r.start_ns,
            end_time=r.end_ns,
            instrumentation_scope=_SCOPE,
        )

    def flush(self) -> None:
        self.processor.force_flush()

    def close(self) -> None:
        if self.owned:
            self.processor.shutdown()
        else:
            self.processor.force_flush()
