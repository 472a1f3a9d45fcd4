"""``GET /metrics``: the recorded series plus gauges computed at scrape time.

Gauges over stored state come from one store read (``Reader.queue_stats``), so they count every
process sharing the store, not only this one; gauges over worker streams come from this node's
memory. The same page is served on the HTTP port (behind the API token like every route) and,
with ``--metrics-port``, on a port of its own, as Dapr does (open with ``--metrics-open``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tether import pb
from tether.store.base import QueueStats
from tether.telemetry.metrics import GaugeSample, render

if TYPE_CHECKING:
    from tether.engine.engine import Engine
    from tether.telemetry.recorder import Telemetry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def gauges(engine: Engine, stats: QueueStats, now: int) -> list[GaugeSample]:
    app = ("app_id",)
    instances = [
        ((a, pb.STATUS_NAMES.get(s, str(s))), float(n))
        for (a, s), n in sorted(stats.instances.items())
    ]
    ready = sorted(stats.inbox_ready.items())
    tasks = sorted(stats.tasks.items())
    streams = sorted(engine.dispatcher.streams.values(), key=lambda s: s.stream_id)
    return [
        GaugeSample(
            "tether_instances",
            "Stored instances by app and status.",
            ("app_id", "status"),
            instances,
        ),
        GaugeSample(
            "tether_inbox_depth",
            "Inbox messages ready for delivery, by app.",
            app,
            [((a,), float(n)) for a, (n, _) in ready],
        ),
        GaugeSample(
            "tether_inbox_oldest_age_seconds",
            "Age of the oldest inbox message ready but not yet delivered, by app.",
            app,
            [((a,), max(0.0, (now - oldest) / 1e9)) for a, (_, oldest) in ready],
        ),
        GaugeSample(
            "tether_inbox_waiting",
            "Inbox messages not yet visible (durable timers, scheduled starts), by app.",
            app,
            [((a,), float(n or 0)) for a, n in sorted(stats.inbox_waiting.items())],
        ),
        GaugeSample(
            "tether_timers_due",
            "Durable timers whose time has come, not yet delivered.",
            app,
            [((a,), float(n or 0)) for a, n in sorted(stats.timers_due.items())],
        ),
        GaugeSample(
            "tether_activities_pending",
            "Activities scheduled and not yet resolved (queued or running), by app.",
            app,
            [((a,), float(n)) for a, (n, _) in tasks],
        ),
        GaugeSample(
            "tether_activities_oldest_age_seconds",
            "Age of the oldest unresolved activity, by app.",
            app,
            [((a,), max(0.0, (now - oldest) / 1e9)) for a, (_, oldest) in tasks],
        ),
        GaugeSample(
            "tether_workers_connected",
            "Worker streams connected to this node.",
            app,
            [((engine.app_id,), float(len(streams)))],
        ),
        GaugeSample(
            "tether_worker_inflight",
            "Work items sent on a stream and not finished.",
            ("app_id", "stream"),
            [((engine.app_id, str(s.stream_id)), float(len(s.outstanding))) for s in streams],
        ),
        GaugeSample(
            "tether_instances_active",
            "Instances this node holds in memory.",
            app,
            [((engine.app_id,), float(len(engine.active)))],
        ),
    ]


async def exposition(engine: Engine, telemetry: Telemetry) -> str:
    now = time.time_ns()
    stats = await engine.store.read(lambda tx: tx.queue_stats(now))
    return render(telemetry.metrics, gauges(engine, stats, now))


async def page(engine: Engine) -> Response:
    from tether.telemetry.recorder import Telemetry

    observer = engine.observer
    if not isinstance(observer, Telemetry):
        return PlainTextResponse("metrics are turned off\n", status_code=404)
    return PlainTextResponse(await exposition(engine, observer), media_type=CONTENT_TYPE)


class MetricsServer:
    """``/metrics`` on a port of its own (``--metrics-port``)."""

    def __init__(self, telemetry: Telemetry, engine: Engine) -> None:
        self.telemetry = telemetry
        self.engine = engine
        self.port = 0
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import uvicorn

        from tether.sidecar import _bind

        settings = self.telemetry.settings
        assert settings.metrics_port is not None
        sock = _bind(settings.listen_address, settings.metrics_port)
        self.port = sock.getsockname()[1]
        token = None if settings.metrics_open else settings.api_token

        async def metrics(request: Request) -> Response:
            given = request.headers.get("dapr-api-token", "")
            if token is not None and not hmac.compare_digest(given.encode(), token.encode()):
                return PlainTextResponse(
                    "missing or wrong dapr-api-token header (or start with --metrics-open)\n",
                    status_code=401,
                )
            return await page(self.engine)

        app = Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
