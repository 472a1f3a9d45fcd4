"""The Dapr workflow HTTP API (engine-semantics §6.3), identical under v1.0, v1.0-beta1 and
v1.0-alpha1.

The path after ``/workflows/`` is parsed by hand from the raw path so that empty segments get
Dapr's "missing" error codes (a router would answer 404) and an encoded ``/`` stays inside an ID.
No POST waits for its effect: start does not wait for the first turn, terminate/pause/resume
only enqueue, and the caller polls GET.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tether.engine.engine import Engine
from tether.errors import NotFound
from tether.httpapi import errors
from tether.httpapi.common import app_id_param, check_instance_id, path_segments, read_text
from tether.httpapi.errors import ApiError
from tether.httpapi.views import dapr_instance
from tether.telemetry.context import trace_context_from_headers

DAPR_VERSIONS = ("v1.0", "v1.0-beta1", "v1.0-alpha1")
_CONTROL_OPS = ("terminate", "pause", "resume", "purge")
_ACCEPTED = 202


def _accepted() -> JSONResponse:
    return JSONResponse({}, status_code=_ACCEPTED)


def _missing_instance_id() -> ApiError:
    return ApiError(400, errors.INSTANCE_ID_MISSING, "no instance ID was provided")


class DaprWorkflowApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"/{version}/workflows/{{rest:path}}", self.dispatch, methods=["GET", "POST"])
            for version in DAPR_VERSIONS
        ]

    async def dispatch(self, request: Request) -> Response:
        # /<version>/workflows/<component>/<…>
        segments = path_segments(request, 2)
        handler = self._select(request.method, segments)
        return await handler(request)

    def _select(self, method: str, segments: list[str]) -> Callable[[Request], Awaitable[Response]]:
        if len(segments) < 2:
            raise ApiError(
                404,
                errors.NOT_FOUND_ROUTE,
                "no such route: use /workflows/{component}/{instanceID}[/operation] or "
                "/workflows/{component}/{workflowName}/start",
            )
        target = segments[1]
        rest = segments[2:]
        if method == "GET":
            if rest:
                raise self._method_not_allowed(rest[0], "POST")
            return lambda request: self.get(request, target)
        if not rest:
            raise self._method_not_allowed("", "GET")
        op = rest[0]
        if op == "start" and len(rest) == 1:
            return lambda request: self.start(request, target)
        if op in _CONTROL_OPS and len(rest) == 1:
            return lambda request: self.control(request, target, op)
        if op == "raiseEvent" and len(rest) <= 2:
            event = rest[1] if len(rest) == 2 else ""
            return lambda request: self.raise_event(request, target, event)
        raise ApiError(
            404,
            errors.NOT_FOUND_ROUTE,
            f"no such workflow operation {'/'.join(rest)!r}: use start, terminate, pause, resume, "
            "purge or raiseEvent/{eventName}",
        )

    @staticmethod
    def _method_not_allowed(op: str, allowed: str) -> ApiError:
        what = f"/{op}" if op else " (an instance URL)"
        return ApiError(405, errors.METHOD_NOT_ALLOWED, f"use {allowed} for{what}")

    # -- handlers ------------------------------------------------------------------------------
    async def start(self, request: Request, name: str) -> Response:
        if not name:
            raise ApiError(400, errors.WORKFLOW_NAME_MISSING, "workflow name is not configured")
        instance_id = request.query_params.get("instanceID") or str(uuid.uuid4())
        check_instance_id(instance_id)
        app_id = app_id_param(request, self.engine.app_id)
        body = await read_text(request)
        try:
            await self.engine.create_instance(
                name,
                instance_id,
                body,
                app_id=app_id,
                wait=False,
                trace=trace_context_from_headers(request.headers),
            )
        except Exception as exc:
            raise errors.operation_failed(
                errors.START_WORKFLOW, f"error starting workflow '{name}'", exc
            ) from exc
        return JSONResponse({"instanceID": instance_id}, status_code=_ACCEPTED)

    async def get(self, request: Request, instance_id: str) -> Response:
        if not instance_id:
            raise _missing_instance_id()
        app_id_param(request, self.engine.app_id)
        try:
            view = await self.engine.query.instance(instance_id)
        except Exception as exc:
            raise errors.operation_failed(
                errors.GET_WORKFLOW,
                f"error while getting workflow info on instance '{instance_id}'",
                exc,
            ) from exc
        if view is None:
            raise errors.not_found(instance_id)
        return JSONResponse(dapr_instance(view))

    async def control(self, request: Request, instance_id: str, op: str) -> Response:
        if not instance_id:
            raise _missing_instance_id()
        app_id_param(request, self.engine.app_id)
        # Bodies of these calls carry nothing; read (and size-check) them anyway.
        await read_text(request)
        engine = self.engine
        try:
            if op == "terminate":
                await engine.terminate(instance_id, None, True, wait=False)
            elif op == "pause":
                await engine.suspend(instance_id, None, wait=False)
            elif op == "resume":
                await engine.resume(instance_id, None, wait=False)
            else:
                await engine.purge(instance_id, True)
        except NotFound as exc:
            if op in ("terminate", "purge"):
                raise errors.not_found(instance_id) from exc
            raise self._failed(op, instance_id, exc) from exc
        except Exception as exc:
            raise self._failed(op, instance_id, exc) from exc
        return _accepted()

    @staticmethod
    def _failed(op: str, instance_id: str, exc: BaseException) -> ApiError:
        if op == "terminate":
            return errors.operation_failed(
                errors.TERMINATE_WORKFLOW, f"error terminating workflow '{instance_id}'", exc
            )
        if op == "pause":
            return errors.operation_failed(
                errors.PAUSE_WORKFLOW, f"error pausing workflow {instance_id}", exc
            )
        if op == "resume":
            return errors.operation_failed(
                errors.RESUME_WORKFLOW, f"error resuming workflow {instance_id}", exc
            )
        return errors.operation_failed(
            errors.PURGE_WORKFLOW, f"error purging workflow {instance_id}", exc
        )

    async def raise_event(self, request: Request, instance_id: str, event: str) -> Response:
        if not instance_id:
            raise _missing_instance_id()
        if not event:
            raise ApiError(400, errors.EVENT_NAME_MISSING, "missing workflow event name")
        app_id_param(request, self.engine.app_id)
        body = await read_text(request)
        try:
            await self.engine.raise_event(instance_id, event, body)
        except Exception as exc:
            raise errors.operation_failed(
                errors.RAISE_EVENT_WORKFLOW,
                f"error raising event on workflow '{instance_id}'",
                exc,
            ) from exc
        return _accepted()
