"""W3C trace context for workflow executions, derived from durable state (no OpenTelemetry here).

An execution's trace context is fixed when its ``executionStarted`` event is written: the caller's
``traceparent`` (gRPC ``parentTraceContext``, HTTP ``traceparent`` header), or the context a parent
workflow stamps on its child and on its own continue-as-new. Without one, the trace id is derived
from the instance and execution ids. Every span id is derived the same way from ids stored in the
history, so spans built again after a restart, from the stored history, carry the same ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tether import pb

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
# traceState entry marking a context stamped by continue-as-new (the span links, not nests).
CONTINUED = "tether=continued"


@dataclass(frozen=True, slots=True)
class TraceParent:
    trace_id: int
    span_id: int
    sampled: bool
    state: str = ""

    def header(self) -> str:
        flags = "01" if self.sampled else "00"
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{flags}"


def parse_traceparent(value: str | None, state: str = "") -> TraceParent | None:
    """A W3C ``traceparent`` header, or None when absent or malformed (which W3C says to ignore)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return TraceParent(trace_id, span_id, bool(int(match.group(4), 16) & 1), state)


def trace_context_from_headers(headers: Any) -> Any | None:
    """A ``pb.TraceContext`` from an HTTP request's ``traceparent``/``tracestate`` headers."""
    parsed = parse_traceparent(headers.get("traceparent"))
    if parsed is None:
        return None
    return to_proto(
        TraceParent(
            parsed.trace_id, parsed.span_id, parsed.sampled, headers.get("tracestate") or ""
        )
    )


def trace_context_from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> Any | None:
    """A ``pb.TraceContext`` from gRPC call metadata: the ``traceparent``/``tracestate`` entries
    OpenTelemetry's gRPC client instrumentation sends (for calls without a trace field)."""
    headers = {key.lower(): value for key, value in metadata or () if isinstance(value, str)}
    return trace_context_from_headers(headers)


def to_proto(parent: TraceParent) -> Any:
    ctx = pb.TraceContext(traceParent=parent.header(), spanID=f"{parent.span_id:016x}")
    if parent.state:
        ctx.traceState.value = parent.state
    return ctx


def from_proto(ctx: Any) -> TraceParent | None:
    state = ctx.traceState.value if ctx.HasField("traceState") else ""
    return parse_traceparent(ctx.traceParent, state)


def _digest(*parts: object, size: int) -> int:
    raw = "\x1f".join(str(p) for p in parts).encode()
    value = int.from_bytes(hashlib.blake2b(raw, digest_size=size).digest(), "big")
    return value or 1


def derived_trace_id(instance_id: str, execution_id: str) -> int:
    return _digest("trace", instance_id, execution_id, size=16)


def span_id(instance_id: str, execution_id: str, kind: str, event_id: int = 0) -> int:
    """The id of one span of an execution: ``workflow`` (the execution), or an event's span."""
    return _digest(kind, instance_id, execution_id, event_id, size=8)


def sampled_by_rate(trace_id: int, rate: float) -> bool:
    """OpenTelemetry's TraceIdRatioBased decision: stable for a trace id, so every node agrees."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return (trace_id & 0xFFFF_FFFF_FFFF_FFFF) < int(rate * (1 << 64))


@dataclass(frozen=True, slots=True)
class ExecutionTrace:
    """Where one execution sits in its trace."""

    trace_id: int
    span_id: int  # the execution's own span
    parent: TraceParent | None  # the span it hangs under, None for a trace root
    sampled: bool
    continued: bool  # started by continue-as-new: ``parent`` is the previous execution's span

    def child(self, kind: str, instance_id: str, execution_id: str, event_id: int) -> TraceParent:
        sid = span_id(instance_id, execution_id, kind, event_id)
        return TraceParent(self.trace_id, sid, self.sampled)


def execution_trace(started_event: Any, rate: float) -> ExecutionTrace:
    """The trace of the execution an ``executionStarted`` history event begins."""
    started = started_event.executionStarted
    instance_id = started.workflowInstance.instanceId
    execution_id = started.workflowInstance.executionId.value
    own = span_id(instance_id, execution_id, "workflow")
    parent = (
        from_proto(started.parentTraceContext) if started.HasField("parentTraceContext") else None
    )
    if parent is None:
        trace_id = derived_trace_id(instance_id, execution_id)
        return ExecutionTrace(trace_id, own, None, sampled_by_rate(trace_id, rate), False)
    continued = CONTINUED in parent.state.split(",")
    # Parent-based sampling: a caller's decision is kept, so a trace is never cut in half.
    return ExecutionTrace(parent.trace_id, own, parent, parent.sampled, continued)


def find_started(history: list[Any]) -> Any | None:
    for event in history:
        if event.HasField("executionStarted"):
            return event
    return None
