"""``GET /metrics`` on the HTTP port: Prometheus text, behind the API token like every route."""

from __future__ import annotations

from typing import Any

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


def metrics_paths() -> dict[str, Any]:
    """The route's entry in the OpenAPI document."""
    return {
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["Health and metadata"],
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "responses": {
                    "200": {
                        "description": "Dapr's dapr_runtime_workflow_* series and tether's own.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": "Missing or wrong dapr-api-token header."},
                },
            }
        }
    }
