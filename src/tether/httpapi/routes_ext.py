"""tether's own HTTP routes, under ``/tether/v1`` (no collision with Dapr's ``/v1.0…``).

* ``GET  /tether/v1/instances`` — list with filters, sort and cursor paging
* ``GET  /tether/v1/counts`` — how many instances match the same filters, per status
* ``GET  /tether/v1/instances/{id}`` — one instance, tether's full view (STALLED included)
* ``GET  /tether/v1/instances/{id}/history`` — the history as JSON
* ``POST /tether/v1/instances/{id}/rerun`` — rerun from an event into a new instance
* ``POST /tether/v1/purge`` — purge terminal instances matching a filter
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tether import pb
from tether.core.rerun import RerunRequest
from tether.engine.engine import Engine
from tether.engine.query import ListQuery
from tether.errors import NotFound
from tether.httpapi import errors
from tether.httpapi.common import (
    check_instance_id,
    parse_time,
    path_segments,
    read_json_object,
)
from tether.httpapi.errors import ApiError
from tether.httpapi.views import detail, history_event, summary

PREFIX = "/tether/v1"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
_APP_FILTER = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,252})$")
_TERMINAL_NAMES = sorted(pb.STATUS_NAMES[s] for s in pb.TERMINAL_STATUSES)
_MAX_EVENT_ID = 2**32 - 1
_SORTS = {"instanceID": "instance_id", "createdAt": "created", "updatedAt": "updated"}
T = TypeVar("T")


def _bad(message: str) -> ApiError:
    return ApiError(400, errors.INVALID_ARGUMENT, message)


def _bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise _bad(f"{name}: {raw!r} is not a boolean (use true or false)")


def _status_list(values: list[str], name: str) -> list[int]:
    statuses: list[int] = []
    for value in values:
        for part in value.split(","):
            key = part.strip().upper()
            if not key:
                continue
            if key not in pb.STATUS_BY_NAME:
                raise _bad(
                    f"{name}: unknown status {part.strip()!r}; use one of "
                    + ", ".join(pb.STATUS_NAMES.values())
                )
            statuses.append(pb.STATUS_BY_NAME[key])
    return sorted(set(statuses))


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string")
    return value


def _optional_bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"{key} must be true or false")
    return value


def _known_keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


class TetherApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/instances", self.list_instances, methods=["GET"]),
            Route(
                f"{PREFIX}/instances/{{rest:path}}", self.instance_dispatch, methods=["GET", "POST"]
            ),
            Route(f"{PREFIX}/counts", self.counts, methods=["GET"]),
            Route(f"{PREFIX}/purge", self.purge, methods=["POST"]),
        ]

    # -- list ----------------------------------------------------------------------------------
    def _list_query(self, request: Request, *, paged: bool) -> ListQuery:
        q = request.query_params
        app_id = q.get("appID", self.engine.app_id)
        if not _APP_FILTER.match(app_id):
            raise ApiError(
                400,
                errors.APP_ID_INVALID,
                f"appID: {app_id!r} is not an app ID (or * for all apps)",
            )
        limit: int | None = None
        if paged:
            limit = DEFAULT_PAGE
            limit_raw = q.get("limit")
            if limit_raw is not None:
                try:
                    limit = int(limit_raw)
                except ValueError:
                    raise _bad(f"limit: {limit_raw!r} is not a whole number") from None
                if not 1 <= limit <= MAX_PAGE:
                    raise _bad(f"limit: {limit} is outside 1..{MAX_PAGE}")
        times = {
            key: parse_time(key, q[key]) if key in q else None
            for key in ("createdAfter", "createdBefore", "updatedAfter", "updatedBefore")
        }
        sort = q.get("sort", "instanceID")
        if sort not in _SORTS:
            raise _bad(f"sort: {sort!r} is not one of {', '.join(_SORTS)}")
        order = q.get("order", "asc").lower()
        if order not in ("asc", "desc"):
            raise _bad(f"order: {order!r} is not asc or desc")
        return ListQuery(
            app_id=None if app_id == "*" else app_id,
            statuses=tuple(_status_list(q.getlist("status"), "status")),
            name=q.get("name"),
            created_from=times["createdAfter"],
            created_to=times["createdBefore"],
            updated_from=times["updatedAfter"],
            updated_to=times["updatedBefore"],
            id_prefix=q.get("idPrefix") or None,
            parent_instance_id=q.get("parent"),
            sort=_SORTS[sort],
            descending=order == "desc",
            cursor=(q.get("cursor") or None) if paged else None,
            limit=limit,
        )

    async def list_instances(self, request: Request) -> Response:
        query = self._list_query(request, paged=True)
        shape = detail if _bool_param(request, "details", False) else summary
        page = await self._read(self.engine.query.instances(query))
        return JSONResponse(
            {"instances": [shape(v) for v in page.instances], "nextCursor": page.next_cursor}
        )

    async def counts(self, request: Request) -> Response:
        query = self._list_query(request, paged=False)
        return JSONResponse({"counts": await self._read(self.engine.query.counts(query))})

    # -- one instance --------------------------------------------------------------------------
    async def instance_dispatch(self, request: Request) -> Response:
        segments = path_segments(request, 3)  # tether / v1 / instances
        instance_id = segments[0] if segments else ""
        if not instance_id:
            raise ApiError(400, errors.INSTANCE_ID_MISSING, "no instance ID was provided")
        rest = segments[1:]
        if not rest:
            if request.method != "GET":
                raise ApiError(405, errors.METHOD_NOT_ALLOWED, "use GET for an instance URL")
            return await self.get_instance(instance_id)
        if rest == ["history"]:
            if request.method != "GET":
                raise ApiError(405, errors.METHOD_NOT_ALLOWED, "use GET for /history")
            return await self.history(request, instance_id)
        if rest == ["rerun"]:
            if request.method != "POST":
                raise ApiError(405, errors.METHOD_NOT_ALLOWED, "use POST for /rerun")
            return await self.rerun(request, instance_id)
        raise ApiError(
            404,
            errors.NOT_FOUND_ROUTE,
            f"no such instance route {'/'.join(rest)!r}: use history or rerun",
        )

    async def get_instance(self, instance_id: str) -> Response:
        view = await self._read(self.engine.query.instance(instance_id))
        if view is None:
            raise errors.not_found(instance_id)
        return JSONResponse(detail(view))

    async def history(self, request: Request, instance_id: str) -> Response:
        include = _bool_param(request, "includePayloads", False)
        try:
            history = await self.engine.query.history(instance_id)
        except NotFound as exc:
            raise errors.not_found(instance_id) from exc
        except Exception as exc:
            raise errors.from_engine(exc) from exc
        return JSONResponse(
            {
                "instanceID": instance_id,
                "appID": history.app_id,
                "events": [history_event(e, include) for e in history.events],
            }
        )

    async def rerun(self, request: Request, instance_id: str) -> Response:
        body = await read_json_object(request)
        _known_keys(
            body,
            ("eventID", "newInstanceID", "input", "overwriteInput", "newChildWorkflowInstanceID"),
        )
        event_id = body.get("eventID")
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise _bad(
                "eventID is required: the ID of a taskScheduled, timerCreated or "
                "childWorkflowInstanceCreated event in the source's history"
            )
        if not 0 <= event_id <= _MAX_EVENT_ID:
            raise _bad(f"eventID {event_id} is outside 0..{_MAX_EVENT_ID}")
        new_id = _optional_string(body, "newInstanceID")
        if new_id is not None:
            if not new_id:
                raise _bad("newInstanceID must not be empty (omit it for a random ID)")
            check_instance_id(new_id)
        new_child = _optional_string(body, "newChildWorkflowInstanceID")
        if new_child is not None and not new_child:
            raise _bad("newChildWorkflowInstanceID must not be empty")
        req = RerunRequest(
            source_instance_id=instance_id,
            event_id=event_id,
            new_instance_id=new_id,
            input=_optional_string(body, "input"),
            overwrite_input=_optional_bool(body, "overwriteInput", False),
            new_child_instance_id=new_child,
        )
        try:
            created = await self.engine.rerun(req)
        except Exception as exc:
            raise errors.from_engine(exc) from exc
        return JSONResponse({"instanceID": created}, status_code=202)

    # -- bulk purge ----------------------------------------------------------------------------
    async def purge(self, request: Request) -> Response:
        body = await read_json_object(request)
        _known_keys(body, ("statuses", "createdAfter", "createdBefore", "recursive"))
        raw_statuses = body.get("statuses")
        statuses: list[int] | None = None
        if raw_statuses is not None:
            if not isinstance(raw_statuses, list) or not all(
                isinstance(s, str) for s in raw_statuses
            ):
                raise _bad('statuses must be a list of status names, e.g. ["COMPLETED"]')
            statuses = _status_list(raw_statuses, "statuses") or None
            live = [pb.STATUS_NAMES[s] for s in statuses or () if s not in pb.TERMINAL_STATUSES]
            if live:
                raise _bad(
                    f"statuses: bulk purge only removes terminal instances; {', '.join(live)} "
                    f"is not one of {', '.join(_TERMINAL_NAMES)}"
                )
        bounds: dict[str, int | None] = {}
        for key in ("createdAfter", "createdBefore"):
            value = _optional_string(body, key)
            bounds[key] = parse_time(key, value) if value is not None else None
        recursive = _optional_bool(body, "recursive", True)
        try:
            count = await self.engine.purge_where(
                bounds["createdAfter"], bounds["createdBefore"], statuses, recursive
            )
        except Exception as exc:
            raise errors.from_engine(exc) from exc
        return JSONResponse({"deletedInstanceCount": count})

    async def _read(self, read: Awaitable[T]) -> T:
        try:
            return await read
        except Exception as exc:
            raise errors.from_engine(exc) from exc
