"""The one interface between the engine and telemetry; its default does nothing.

The engine calls these methods at a handful of places (see docs/telemetry.md for the list); a
real implementation (:class:`tether.telemetry.recorder.Telemetry`) turns them into metrics, log
lines and spans. Every method must be cheap and must never raise into the engine.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.core.state import InstanceState
    from tether.core.turns import TurnPlan, TurnResult
    from tether.settings import Settings
    from tether.store.base import Store

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class Observer:
    enabled = False

    async def start(self, engine: Any) -> None:
        """The engine started (a separate metrics port opens here)."""

    async def close(self) -> None:
        """The engine stopped: flush what is buffered (spans) and close."""

    def turn_prepared(self, state: InstanceState, result: TurnResult) -> None:
        """A turn is about to be committed: stamp trace context on what it creates."""

    def turn_committed(self, state: InstanceState, plan: TurnPlan, result: TurnResult) -> None:
        """A turn is durable; ``state`` is still the state before it (memory not yet updated)."""

    def instances_claimed(self, count: int, takeovers: int) -> None:
        """This node claimed ``count`` instances from the store; ``takeovers`` of them were
        leased by another node whose lease lapsed (the rest nobody owned yet)."""

    def operation(self, name: str, ok: bool, seconds: float) -> None:
        """A workflow management operation (Dapr's create/get/add_event/purge) finished."""


def observed(name: str) -> Callable[[F], F]:
    """Time a management operation of an object with an ``observer`` (or an ``engine``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            observer: Observer = getattr(self, "observer", None) or self.engine.observer
            if not observer.enabled:
                return await fn(self, *args, **kwargs)
            began = time.perf_counter()
            ok = False
            try:
                result = await fn(self, *args, **kwargs)
                ok = True
                return result
            finally:
                observer.operation(name, ok, time.perf_counter() - began)

        return wrapper  # type: ignore[return-value]

    return decorate


def build_observer(settings: Settings, store: Store) -> Observer:
    """The observer the settings ask for: metrics and logs unless metrics are off; tracing when
    an endpoint is configured (OpenTelemetry is imported only then)."""
    if not settings.metrics_enabled and not _tracing_endpoint(settings):
        return Observer()
    from tether.telemetry.recorder import Telemetry

    telemetry = Telemetry(settings)
    on_commit = getattr(store, "on_commit", False)
    if on_commit is None:  # the store reports its group commits
        store.on_commit = telemetry.commit_done  # type: ignore[attr-defined]
    if _tracing_endpoint(settings):
        try:
            telemetry.export_over_otlp(settings.tracing_endpoint, _tracing_protocol(settings))
        except ConfigError as exc:
            if settings.tracing_endpoint:
                raise
            # Only the environment asks (it may be meant for the app under ``tether run``).
            logging.getLogger(__name__).warning("not exporting spans: %s", exc)
    return telemetry


def _tracing_endpoint(settings: Settings) -> bool:
    import os

    return bool(
        settings.tracing_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _tracing_protocol(settings: Settings) -> str:
    import os

    if settings.tracing_protocol:
        return settings.tracing_protocol
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
