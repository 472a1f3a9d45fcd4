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
from tether.core.events import from_timestamp
from tether.core.state import InstanceState
from tether.core.turns import TurnPlan, TurnResult
from tether.errors import ConfigError
from tether.settings import Settings
from tether.telemetry.metrics import Metric
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
        self.series = Series()

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
        dapr = (self.app_id, self.namespace)
        first = not state.started
        if len(self._scheduled) > _SCHEDULED_LIMIT:
            self._scheduled.clear()  # instances retired without ending here; history has it all
        scheduled = self._scheduled.setdefault(state.instance_id, {})
        for event in result.history:
            kind = event.WhichOneof("eventType")
            if kind == "workflowStarted":
                self.series.turn_latency.observe(
                    max(0, now - from_timestamp(event.timestamp)) / 1e9, self.app_id
                )
                if first:
                    self._scheduling(state, result, event)
                    first = False
            elif kind == "taskScheduled":
                name = event.taskScheduled.name
                scheduled[event.eventId] = (name, from_timestamp(event.timestamp))
                self.series.activity_operation_count.inc(*dapr, name, "success")
            elif kind in ("taskCompleted", "taskFailed"):
                done = getattr(event, kind)
                task = scheduled.pop(done.taskScheduledId, None) or _find_task(
                    state, done.taskScheduledId
                )
                if task is not None:
                    outcome = "success" if kind == "taskCompleted" else "failed"
                    elapsed = (from_timestamp(event.timestamp) - task[1]) / 1e6
                    self.series.activity_execution_count.inc(*dapr, task[0], outcome)
                    self.series.activity_execution_latency.observe(
                        max(0.0, elapsed), *dapr, task[0], outcome
                    )
        status = pb.CONTINUED_AS_NEW if result.continue_as_new is not None else result.status
        if status != state.status:
            self._state_changed(state, result, status)
        if result.terminal or result.continue_as_new is not None:
            self._scheduled.pop(state.instance_id, None)
            self._execution_ended(state, result, status, now)

    def _scheduling(self, state: InstanceState, result: TurnResult, turn: Any) -> None:
        started = next((e for e in result.history if e.HasField("executionStarted")), None)
        if started is None:
            return
        requested = from_timestamp(started.timestamp)
        if started.executionStarted.HasField("scheduledStartTimestamp"):
            requested = max(
                requested, from_timestamp(started.executionStarted.scheduledStartTimestamp)
            )
        elapsed = (from_timestamp(turn.timestamp) - requested) / 1e6
        self.series.scheduling_latency.observe(
            max(0.0, elapsed), self.app_id, self.namespace, state.name
        )

    def _execution_ended(
        self, state: InstanceState, result: TurnResult, status: int, now: int
    ) -> None:
        label = _EXECUTION_STATUS.get(status)
        if label is not None:
            self.series.execution_count.inc(self.app_id, self.namespace, state.name, label)
            if state.created_at:
                elapsed = (now - state.created_at) / 1e6
                self.series.execution_latency.observe(
                    max(0.0, elapsed), self.app_id, self.namespace, state.name, label
                )
        if self.spans is not None:
            history = [*state.history, *result.history]
            self.spans.export(build_spans(history, state.app_id, self.rate, now, status))

    def _state_changed(self, state: InstanceState, result: TurnResult, status: int) -> None:
        name = pb.STATUS_NAMES.get(status, "UNKNOWN")
        self.series.state_changes.inc(self.app_id, name)
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
        self.series.claims.inc(self.app_id, by=count)
        self.series.takeovers.inc(self.app_id, by=takeovers)

    def operation(self, name: str, ok: bool, seconds: float) -> None:
        status = "success" if ok else "failed"
        self.series.operation_count.inc(self.app_id, self.namespace, name, status)
        self.series.operation_latency.observe(
            seconds * 1000, self.app_id, self.namespace, name, status
        )

    def commit_done(self, seconds: float, jobs: int) -> None:
        try:  # runs on the store's writer thread, which must never die of it
            self.series.commit_latency.observe(seconds, self.app_id)
            self.series.commit_size.observe(jobs, self.app_id)
        except Exception:
            log.exception("recording a store commit failed")


def _find_task(state: InstanceState, task_id: int) -> tuple[str, int] | None:
    """A scheduled activity this process did not see scheduled (it was restarted since)."""
    for event in reversed(state.history):
        if event.eventId == task_id and event.HasField("taskScheduled"):
            return event.taskScheduled.name, from_timestamp(event.timestamp)
    return None
