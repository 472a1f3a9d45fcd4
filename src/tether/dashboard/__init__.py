"""The bundled web dashboard: server-rendered pages over the read model, under ``/dashboard/``.

Every tether serves it on its HTTP port (:func:`with_dashboard`); ``tether dashboard`` serves it
over a store with no tether running (read-only, :func:`mount`).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tether.dashboard.app import MAX_FORM_BYTES, build_dashboard
from tether.dashboard.source import Source
from tether.engine.engine import Engine
from tether.httpapi.guard import Guard

PREFIX = "/dashboard"


async def _to_index(request: Request) -> Response:
    return RedirectResponse(PREFIX + "/", 307)


def mount(source: Source) -> Starlette:
    """An app serving the dashboard under ``/dashboard`` (with its own sign-in instead of the
    API-token header, and a small body limit)."""
    dashboard = Guard(build_dashboard(source), api_token=None, max_body=MAX_FORM_BYTES)
    return Starlette(routes=[Route(PREFIX, _to_index), Mount(PREFIX, app=dashboard)])


class _Split:
    """In front of the API's middleware: ``/dashboard…`` goes to the dashboard, all else on."""

    def __init__(self, app: ASGIApp, dashboard: ASGIApp) -> None:
        self.app = app
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self.dashboard(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def with_dashboard(api: Starlette, engine: Engine) -> Starlette:
    """``api`` with the dashboard in front of its own middleware (the API is left unchanged)."""
    api.add_middleware(_Split, dashboard=mount(Source.of_engine(engine)))
    return api
