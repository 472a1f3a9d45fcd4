"""The HTTP side of the sidecar (an ASGI app on the Dapr HTTP port): assembly of the routes.

* Dapr's workflow API, health and metadata under ``/v1.0``, ``/v1.0-beta1``, ``/v1.0-alpha1``
  (:mod:`tether.httpapi.routes_dapr`);
* tether's own routes under ``/tether/v1`` (:mod:`tether.httpapi.routes_ext`);
* the OpenAPI document of all of them at ``/tether/v1/openapi.json``;
* the API-token check and body-size limit in front of everything (:mod:`tether.httpapi.guard`).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tether import __version__
from tether.dashboard import with_dashboard
from tether.engine.engine import Engine
from tether.httpapi import errors
from tether.httpapi.errors import ApiError
from tether.httpapi.guard import Guard
from tether.httpapi.metrics import metrics_routes
from tether.httpapi.openapi import OPENAPI_PATH, build_openapi
from tether.httpapi.routes_dapr import DAPR_VERSIONS, DaprWorkflowApi
from tether.httpapi.routes_ext import TetherApi


def _health_routes(engine: Engine) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        # A store that can no longer be written (its file deleted or replaced) is unhealthy.
        healthy = engine.running and getattr(engine.store, "problem", None) is None
        return Response(status_code=204 if healthy else 500)

    async def metadata(request: Request) -> Response:
        workers = len(engine.dispatcher.streams)
        body: dict[str, Any] = {
            "id": engine.app_id,
            "runtimeVersion": f"tether {__version__}",
            "store": engine.store.kind,
            "connectedWorkers": workers,
            # Dapr's shape. Registered workflow/activity names live only in the workers (the
            # protocol never tells the sidecar), so tether reports no counts for them.
            "workflows": {"connectedWorkers": workers},
        }
        return JSONResponse(body)

    routes: list[BaseRoute] = []
    for version in DAPR_VERSIONS:
        routes += [
            Route(f"/{version}/healthz", healthz, methods=["GET"]),
            Route(f"/{version}/healthz/outbound", healthz, methods=["GET"]),
            Route(f"/{version}/metadata", metadata, methods=["GET"]),
        ]
    return routes


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return errors.error_response(
            404, errors.NOT_FOUND_ROUTE, f"no route for {request.method} {request.url.path}"
        )
    if exc.status_code == 405:
        return errors.error_response(
            405,
            errors.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {request.url.path}",
        )
    return errors.error_response(exc.status_code, "ERR_HTTP", str(exc.detail))


def build_app(engine: Engine) -> Starlette:
    document = build_openapi()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes: list[BaseRoute] = [
        *_health_routes(engine),
        *DaprWorkflowApi(engine).routes(),
        *TetherApi(engine).routes(),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        *metrics_routes(engine),
    ]
    settings = engine.settings
    api = Starlette(
        routes=routes,
        middleware=[
            Middleware(Guard, api_token=settings.api_token, max_body=settings.max_payload_bytes)
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return with_dashboard(api, engine)
