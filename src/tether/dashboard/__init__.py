"""The bundled web dashboard: server-rendered pages over the read model, under ``/dashboard/``.

Every tether serves it on its HTTP port (:func:`with_dashboard`); ``tether dashboard`` serves it
over a store with no tether running (read-only).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from tether.dashboard.app import MAX_FORM_BYTES, build_dashboard
from tether.dashboard.source import Source
from tether.engine.engine import Engine
from tether.httpapi.guard import Guard


def mount(source: Source, rest: ASGIApp | None = None) -> Starlette:
    """``/dashboard`` for the dashboard (its own sign-in instead of the API-token header, and a
    small body limit), everything else to ``rest``."""
    dashboard = Guard(build_dashboard(source), api_token=None, max_body=MAX_FORM_BYTES)
    routes = [Mount("/dashboard", app=dashboard)]
    if rest is not None:
        routes.append(Mount("", app=rest))
    return Starlette(routes=routes)


def with_dashboard(api: ASGIApp, engine: Engine) -> Starlette:
    return mount(Source.of_engine(engine), api)
