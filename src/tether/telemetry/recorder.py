"""The engine's observer: Dapr's workflow metrics and tether's own, state-change log lines, spans.

Metric names and labels follow Dapr's sidecar (``dapr_runtime_workflow_*``, latencies in
milliseconds, labels ``app_id``, ``namespace``, ``workflow_name``/``activity_name``, ``status``)
where Dapr has them; ``tether_*`` series cover what Dapr lacks (see docs/telemetry.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from tether import pb
from tether.core.events import MAX_NS, MIN_NS, NANOS, from_timestamp
from tether.core.state import InstanceState
from tether.core.turns import TurnPlan, TurnResult
from tether.errors import ConfigError
from tether.settings import Settings
from tether.telemetry.metrics import Counter, Histogram, Metric
from tether.telemetry.observer import Observer
from tether.telemetry.propagate import stamp_turn, trace_of
from tether.telemetry.series import Series
from tether.telemetry.spans import build_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

    from tether.telemetry.otel import SpanExport

log = logging.getLogger("tether.instance")

_EXECUTION_STATUS = {
    pb.COMPLETED: "success",
    pb.FAILED: "failed",
    pb.TERMINATED: "terminated",
    pb.CANCELED: "terminated",
}
_SCHEDULED_LIMIT = 100_000
_FLUSH_SECONDS = 5.0


class Telemetry(Observer):
    enabled = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app_id = settings.app_id
        self.namespace = os.environ.get("NAMESPACE", "default")
        self.rate = settings.tracing_sampling_rate
        self.spans: SpanExport | None = None
        self.exposition: Any = None  # the separate metrics port's server, when configured
        # Scheduled activities of live instances: instance -> task id -> (name, scheduled at).
        self._scheduled: dict[str, dict[int, tuple[str, int]]] = {}
        self.series = series = Series()
        app, dapr = (self.app_id,), (self.app_id, self.namespace)
        self._turn_latency = _Children(series.turn_latency, *app)
        self._state_changes = _Children(series.state_changes, *app)
        self._claims = _Children(series.claims, *app)
        self._takeovers = _Children(series.takeovers, *app)
        self._commit_latency = _Children(series.commit_latency, *app)
        self._commit_size = _Children(series.commit_size, *app)
        self._scheduling_latency = _Children(series.scheduling_latency, *dapr)
        self._execution_count = _Children(series.execution_count, *dapr)
        self._execution_latency = _Children(series.execution_latency, *dapr)
        self._activity_operations = _Children(series.activity_operation_count, *dapr)
        self._activity_executions = _Children(series.activity_execution_count, *dapr)
        self._activity_latency = _Children(series.activity_execution_latency, *dapr)
        self._operation_count = _Children(series.operation_count, *dapr)
        self._operation_latency = _Children(series.operation_latency, *dapr)

    @property
    def metrics(self) -> list[Metric]:
        return self.series.metrics

    # -- tracing -------------------------------------------------------------------------------
    def export_over_otlp(self, endpoint: str | None, protocol: str) -> None:
        try:
            from tether.telemetry.otel import SpanExport, otlp_exporter
        except ImportError as exc:
            raise ConfigError(
                f"tracing_endpoint: exporting spans needs OpenTelemetry ({exc.name} is missing): "
                "pip install 'tether[otel]'"
            ) from exc

        self.spans = SpanExport.batched(
            self.app_id, otlp_exporter(endpoint, protocol, self.settings.tracing_secure)
        )

    def export_spans_to(self, processor: SpanProcessor) -> None:
        """Send spans to an OpenTelemetry span processor of the caller's (tests, embedding)."""
        from tether.telemetry.otel import SpanExport

        self.spans = SpanExport(self.app_id, processor)

    async def start(self, engine: Any) -> None:
        if self.settings.metrics_port is not None and self.settings.metrics_enabled:
            from tether.telemetry.exposition import MetricsServer

            self.exposition = MetricsServer(self, engine)
            await self.exposition.start()

    async def close(self) -> None:
        if self.exposition is not None:
            await self.exposition.stop()
        if self.spans is not None:
            # Flushing waits for the collector; an unreachable one must not hold up shutdown
            # (nor the event loop) for the exporter's retries.
            flush = asyncio.ensure_future(asyncio.to_thread(self.spans.close))
            done, _ = await asyncio.wait([flush], timeout=_FLUSH_SECONDS)
            if not done:
                log.warning("spans not exported within %.0f s at shutdown", _FLUSH_SECONDS)

    # -- hooks ---------------------------------------------------------------------------------
    def turn_prepared(self, state: InstanceState, result: TurnResult) -> None:
        if self.spans is None:
            return
        try:
            stamp_turn(state, result, self.rate)
        except Exception:  # a turn commits without trace context rather than not at all
            log.exception("stamping trace context on a turn of %r failed", state.instance_id)

    def turn_committed(self, state: InstanceState, plan: TurnPlan, result: TurnResult) -> None:
        try:
            self._turn_committed(state, plan, result)
        except Exception:  # telemetry must never break a commit that already happened
            log.exception("recording telemetry for a turn of %r failed", state.instance_id)

    def _turn_committed(self, state: InstanceState, plan: TurnPlan, result: TurnResult) -> None:
        now = time.time_ns()
        instance_id = state.instance_id
        scheduled = self._scheduled.get(instance_id)
        opening = not state.history  # the instance's first turn: it records scheduling latency
        turn_at: int | None = None
        started = None
        for event in result.history:
            kind = event.WhichOneof("eventType")
            if kind == "workflowStarted":
                at = _nanos(event.timestamp)
                waited = now - at
                self._turn_latency[()].observe((waited if waited > 0 else 0) / 1e9)
                if opening and turn_at is None:
                    turn_at = at
            elif kind == "executionStarted":
                if started is None:
                    started = event
            elif kind == "taskScheduled":
                name = event.taskScheduled.name
                if scheduled is None:
                    if len(self._scheduled) > _SCHEDULED_LIMIT:
                        self._scheduled.clear()  # instances retired without ending here
                    scheduled = self._scheduled.setdefault(instance_id, {})
                scheduled[event.eventId] = (name, _nanos(event.timestamp))
                self._activity_operations[(name, "success")].inc()
            elif kind == "taskCompleted" or kind == "taskFailed":
                done = getattr(event, kind)
                task = scheduled.pop(done.taskScheduledId, None) if scheduled else None
                if task is None:
                    task = _find_task(state, done.taskScheduledId)
                if task is not None:
                    key = (task[0], "success" if kind == "taskCompleted" else "failed")
                    elapsed = (_nanos(event.timestamp) - task[1]) / 1e6
                    self._activity_executions[key].inc()
                    self._activity_latency[key].observe(elapsed if elapsed > 0.0 else 0.0)
        if turn_at is not None and started is not None:
            self._scheduling(state, started, turn_at)
        status = pb.CONTINUED_AS_NEW if result.continue_as_new is not None else result.status
        if status != state.status:
            self._state_changed(state, result, status)
        if result.terminal or result.continue_as_new is not None:
            self._scheduled.pop(instance_id, None)
            self._execution_ended(state, result, status, now)

    def _scheduling(self, state: InstanceState, started: Any, turn_at: int) -> None:
        requested = _nanos(started.timestamp)
        info = started.executionStarted
        if info.HasField("scheduledStartTimestamp"):
            requested = max(requested, from_timestamp(info.scheduledStartTimestamp))
        elapsed = (turn_at - requested) / 1e6
        self._scheduling_latency[state.name].observe(elapsed if elapsed > 0.0 else 0.0)

    def _execution_ended(
        self, state: InstanceState, result: TurnResult, status: int, now: int
    ) -> None:
        label = _EXECUTION_STATUS.get(status)
        if label is not None:
            key = (state.name, label)
            self._execution_count[key].inc()
            if state.created_at:
                elapsed = (now - state.created_at) / 1e6
                self._execution_latency[key].observe(elapsed if elapsed > 0.0 else 0.0)
        if self.spans is not None:
            history = [*state.history, *result.history]
            self.spans.export(build_spans(history, state.app_id, self.rate, now, status))

    def _state_changed(self, state: InstanceState, result: TurnResult, status: int) -> None:
        name = pb.STATUS_NAMES.get(status, "UNKNOWN")
        self._state_changes[name].inc()
        if not log.isEnabledFor(logging.INFO):
            return
        trace = trace_of(state, result, self.rate)
        fields = {
            "instance_id": state.instance_id,
            "app_id": state.app_id,
            "trace_id": f"{trace.trace_id:032x}" if trace is not None else None,
        }
        log.info(
            "workflow %r (%s) is %s (was %s)",
            state.instance_id,
            state.name,
            name,
            pb.STATUS_NAMES.get(state.status, "UNKNOWN"),
            extra=fields,
        )

    def instances_claimed(self, count: int, takeovers: int) -> None:
        self._claims[()].inc(count)
        self._takeovers[()].inc(takeovers)

    def operation(self, name: str, ok: bool, seconds: float) -> None:
        key = (name, "success" if ok else "failed")
        self._operation_count[key].inc()
        self._operation_latency[key].observe(seconds * 1000)

    def commit_done(self, seconds: float, jobs: int) -> None:
        try:  # runs on the store's writer thread, which must never die of it
            self._commit_latency[()].observe(seconds)
            self._commit_size[()].observe(jobs)
        except Exception:
            log.exception("recording a store commit failed")


def _nanos(ts: Any) -> int:
    """``from_timestamp`` without its clamping calls when the instant is in range (nearly always;
    this runs a few times per turn)."""
    ns: int = ts.seconds * NANOS + ts.nanos
    return ns if MIN_NS <= ns <= MAX_NS else from_timestamp(ts)


class _Children(dict[Any, Any]):
    """A metric's children by the labels that vary (a str, or a tuple of them), this node's own
    labels fixed: bound on first use, so a label set appears in ``/metrics`` once it has a sample,
    and a hot path pays one dict lookup for it."""

    def __init__(self, metric: Counter | Histogram, *fixed: str) -> None:
        super().__init__()
        self.metric = metric
        self.fixed = fixed

    def __missing__(self, key: Any) -> Any:
        varying = key if isinstance(key, tuple) else (key,)
        child = self[key] = self.metric.labels(*self.fixed, *varying)
        return child


def _find_task(state: InstanceState, task_id: int) -> tuple[str, int] | None:
    """A scheduled activity this process did not see scheduled (it was restarted since)."""
    for event in reversed(state.history):
        if event.eventId == task_id and event.HasField("taskScheduled"):
            return event.taskScheduled.name, from_timestamp(event.timestamp)
    return None
