"""``GET /metrics`` on the HTTP port: Prometheus text, behind the API token like every route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tether.engine.engine import Engine
from tether.telemetry.exposition import page


def metrics_routes(engine: Engine) -> list[BaseRoute]:
    """The route, absent (404) when metrics are turned off."""
    if not engine.settings.metrics_enabled:
        return []

    async def metrics(request: Request) -> Response:
        return await page(engine)

    return [Route("/metrics", metrics, methods=["GET"])]
