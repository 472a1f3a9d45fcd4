"""Traces, metrics and instance log lines. The engine talks to this package only through
:class:`Observer`; OpenTelemetry is imported only when tracing is configured."""

from tether.telemetry.observer import Observer, build_observer, observed

__all__ = ["Observer", "build_observer", "observed"]
