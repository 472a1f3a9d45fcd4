"""tether's own HTTP routes, under ``/tether/v1`` (no collision with Dapr's ``/v1.0…``).

* ``GET  /tether/v1/instances`` — list with filters, sort and cursor paging
* ``GET  /tether/v1/counts`` — how many instances match the same filters, per status
* ``GET  /tether/v1/instances/{id}`` — one instance, tether's full view (STALLED included)
* ``GET  /tether/v1/instances/{id}/history`` — the history as JSON
* ``POST /tether/v1/instances/{id}/rerun`` — rerun from an event into a new instance
* ``POST /tether/v1/instances/{id}/purge`` — purge one instance (``force`` for a live one)
* ``POST /tether/v1/purge`` — purge terminal instances matching a filter
* ``GET  /tether/v1/timers`` — pending reminders (durable timers, scheduled starts)
* ``POST /tether/v1/timers/delete`` — delete reminders by name or prefix
* ``GET  /tether/v1/timers/export``, ``POST /tether/v1/timers/import`` — back them up, restore
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
from tether.engine.admin import export_document, rows_from_export
from tether.engine.engine import Engine
from tether.engine.query import ListQuery, name_matches
from tether.errors import InvalidArgument, NotFound
from tether.httpapi import errors
from tether.httpapi.common import (
    check_instance_id,
    parse_time,
    path_segments,
    read_json_object,
)
from tether.httpapi.errors import ApiError
from tether.httpapi.views import detail, history_event, summary, timer_document
from tether.telemetry.context import trace_context_from_headers

PREFIX = "/tether/v1"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
_APP_FILTER = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,252})$")
_TERMINAL_NAMES = sorted(pb.STATUS_NAMES[s] for s in pb.TERMINAL_STATUSES)
_MAX_EVENT_ID = 2**32 - 1
_SORTS = {"instanceID": "instance_id", "createdAt": "created", "updatedAt": "updated"}
T = TypeVar("T")
REMINDER_NOT_FOUND = "ERR_REMINDER_NOT_FOUND"


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
            Route(f"{PREFIX}/timers", self.list_timers, methods=["GET"]),
            Route(f"{PREFIX}/timers/delete", self.delete_timers, methods=["POST"]),
            Route(f"{PREFIX}/timers/export", self.export_timers, methods=["GET"]),
            Route(f"{PREFIX}/timers/import", self.import_timers, methods=["POST"]),
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
        if rest == ["rerun"] or rest == ["purge"]:
            if request.method != "POST":
                raise ApiError(405, errors.METHOD_NOT_ALLOWED, f"use POST for /{rest[0]}")
            if rest == ["purge"]:
                return await self.purge_one(request, instance_id)
            return await self.rerun(request, instance_id)
        raise ApiError(
            404,
            errors.NOT_FOUND_ROUTE,
            f"no such instance route {'/'.join(rest)!r}: use history, rerun or purge",
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
            trace=trace_context_from_headers(request.headers),
        )
        try:
            created = await self.engine.rerun(req)
        except Exception as exc:
            raise errors.from_engine(exc) from exc
        return JSONResponse({"instanceID": created}, status_code=202)

    async def purge_one(self, request: Request, instance_id: str) -> Response:
        body = await read_json_object(request)
        _known_keys(body, ("force", "recursive"))
        force = _optional_bool(body, "force", False)
        recursive = _optional_bool(body, "recursive", True)
        engine = self.engine
        try:
            count = await engine.detached(engine.purge(instance_id, recursive, force))
        except NotFound as exc:
            raise errors.not_found(instance_id) from exc
        except Exception as exc:
            raise errors.from_engine(exc) from exc
        return JSONResponse({"deletedInstanceCount": count})

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

    # -- reminders (durable timers and scheduled starts) ---------------------------------------
    def _timer_app(self, request: Request) -> str | None:
        app_id = request.query_params.get("appID", self.engine.app_id)
        if not _APP_FILTER.match(app_id):
            raise ApiError(
                400, errors.APP_ID_INVALID, f"appID: {app_id!r} is not an app ID (or * for all)"
            )
        return None if app_id == "*" else app_id

    async def list_timers(self, request: Request) -> Response:
        timers = await self._read(self.engine.query.timers(self._timer_app(request)))
        names = request.query_params.getlist("name")
        if names:
            by_name = {t.name: t for t in timers}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ApiError(404, REMINDER_NOT_FOUND, f"reminder {missing[0]!r} not found")
            timers = [by_name[n] for n in dict.fromkeys(names)]
        return JSONResponse({"timers": [timer_document(t) for t in timers]})

    async def delete_timers(self, request: Request) -> Response:
        body = await read_json_object(request)
        _known_keys(body, ("names", "prefix"))
        names = body.get("names")
        prefix = _optional_string(body, "prefix")
        if (names is None) == (prefix is None):
            raise _bad('give either "names" (a list of reminder names) or "prefix"')
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise _bad("names must be a list of reminder names")
        if prefix is not None and not prefix:
            raise _bad('prefix must not be empty (use "all" for every reminder)')
        timers = await self._read(self.engine.query.timers(self._timer_app(request)))
        if names is not None:
            by_name = {t.name: t for t in timers}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ApiError(404, REMINDER_NOT_FOUND, f"reminder {missing[0]!r} not found")
            chosen = [by_name[n] for n in dict.fromkeys(names)]
        else:
            assert prefix is not None
            chosen = [t for t in timers if name_matches(t.name, prefix)]
        engine = self.engine
        msg_ids = [t.msg_id for t in chosen]
        deleted = await self._read(engine.detached(engine.delete_timers(msg_ids)))
        gone = {row.msg_id for row in deleted}
        return JSONResponse({"deleted": [t.name for t in chosen if t.msg_id in gone]})

    async def export_timers(self, request: Request) -> Response:
        timers = await self._read(self.engine.query.timers(self._timer_app(request)))
        return JSONResponse(export_document(timers))

    async def import_timers(self, request: Request) -> Response:
        app_id = self._timer_app(request) if "appID" in request.query_params else None
        body = await read_json_object(request)
        try:
            rows = rows_from_export(body, app_id)
        except InvalidArgument as exc:
            raise _bad(exc.message) from None
        engine = self.engine
        imported, skipped = await self._read(engine.detached(engine.restore_timers(rows)))
        return JSONResponse({"imported": imported, "skipped": skipped})

    async def _read(self, read: Awaitable[T]) -> T:
        try:
            return await read
        except Exception as exc:
            raise errors.from_engine(exc) from exc
