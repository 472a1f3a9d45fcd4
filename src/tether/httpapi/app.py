"""The HTTP side of the sidecar (an ASGI app on the Dapr HTTP port)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tether import __version__
from tether.engine.engine import Engine


def build_app(engine: Engine) -> Starlette:
    async def healthz(request: Request) -> Response:
        return Response(status_code=204 if engine.running else 500)

    async def metadata(request: Request) -> Response:
        body: dict[str, Any] = {
            "id": engine.app_id,
            "runtimeVersion": f"tether {__version__}",
            "store": engine.store.kind,
            "connectedWorkers": len(engine.dispatcher.streams),
        }
        return JSONResponse(body)

    routes = []
    for version in ("v1.0", "v1.0-beta1", "v1.0-alpha1"):
        routes += [
            Route(f"/{version}/healthz", healthz),
            Route(f"/{version}/healthz/outbound", healthz),
            Route(f"/{version}/metadata", metadata),
        ]
    return Starlette(routes=routes)
