"""Where ``workflow list|get|history|purge`` read and purge instances: a running tether (its HTTP
API, and gRPC for raw history), or a store opened directly (``--connection-string``), behind one
small interface. Both hand out the read model's views (:mod:`tether.engine.query`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from tether import pb
from tether.cli.durations import from_ns, parse_time, rfc3339, to_ns
from tether.cli.output import CliError
from tether.cli.remote import HttpError, TetherHttp, quote
from tether.cli.target import SidecarClient, on_store
from tether.engine.admin import Admin
from tether.engine.query import (
    FailureView,
    HistoryView,
    InstanceView,
    ListQuery,
    Query,
    StallView,
    history_views,
)
from tether.errors import TetherError

PAGE_SIZE = 1000
T = TypeVar("T")


def list_record(view: InstanceView, namespace: str) -> dict[str, Any]:
    """The Dapr CLI's wide list row (used by every machine format)."""
    return {
        "namespace": namespace,
        "appID": view.app_id,
        "name": view.name,
        "instanceID": view.instance_id,
        "created": _time(view.created_at) or None,
        "lastUpdate": _time(view.updated_at) or None,
        "runtimeStatus": view.status_name,
        "customStatus": view.custom_status or "",
        "failureMessage": (view.failure.message if view.failure else "").replace("\n", " "),
    }


def detail_record(view: InstanceView, namespace: str) -> dict[str, Any]:
    record = list_record(view, namespace)
    extra: dict[str, Any] = {
        "executionID": view.execution_id or None,
        "parentInstanceID": view.parent_instance_id,
        "scheduledStart": _time(view.scheduled_start) or None,
        "completed": _time(view.completed_at) or None,
        "input": view.input,
        "output": view.output,
        "failureType": view.failure.error_type if view.failure else None,
        "failureStackTrace": view.failure.stack_trace if view.failure else None,
        "tags": dict(view.tags) or None,
    }
    record.update({k: v for k, v in extra.items() if v is not None})
    return record


def _time(ns: int | None, seconds_only: bool = False) -> str:
    return rfc3339(from_ns(ns), seconds_only=seconds_only) if ns else ""


def not_found(instance_id: str) -> CliError:
    return CliError(f"workflow instance '{instance_id}' not found")


# -- the HTTP documents, read back -------------------------------------------------------------
def _ns(value: Any) -> int | None:
    if not value or value.startswith("0001-01-01"):
        return None
    return to_ns(parse_time(value))


def _failure(doc: dict[str, Any] | None) -> FailureView | None:
    if not doc:
        return None
    return FailureView(
        error_type=doc.get("errorType", ""),
        message=doc.get("errorMessage", ""),
        stack_trace=doc.get("stackTrace"),
        non_retriable=bool(doc.get("isNonRetriable", False)),
        cause=_failure(doc.get("innerFailure")),
    )


def instance_from_document(doc: dict[str, Any]) -> InstanceView:
    """An instance view from tether's instance document (``GET /tether/v1/instances/{id}``)."""
    stall = doc.get("stall")
    return InstanceView(
        instance_id=doc["instanceID"],
        app_id=doc["appID"],
        name=doc["workflowName"],
        status=pb.STATUS_BY_NAME.get(doc["runtimeStatus"], -1),
        execution_id=doc.get("executionID") or "",
        created_at=_ns(doc.get("createdAt")),
        updated_at=_ns(doc.get("lastUpdatedAt")),
        completed_at=_ns(doc.get("completedAt")),
        scheduled_start=_ns(doc.get("scheduledStartAt")),
        parent_instance_id=doc.get("parentInstanceID"),
        input=doc.get("input"),
        output=doc.get("output"),
        custom_status=doc.get("customStatus"),
        failure=_failure(doc.get("failure")),
        stall=StallView(stall["reason"], stall.get("description")) if stall else None,
        version=doc.get("version"),
        tags=dict(doc.get("tags") or {}),
    )


# -- sources -----------------------------------------------------------------------------------
PurgeHook = Callable[[str], None]


class InstanceSource(Protocol):
    app_id: str | None

    def list_all(self) -> list[InstanceView]: ...
    def get(self, instance_id: str) -> InstanceView: ...
    def history(self, instance_id: str) -> HistoryView: ...
    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        """Purge one by one (non-recursive); the first failure raises ``<id>: <error>``."""
        ...


class RemoteSource:
    """A running tether: its engine reads and purges."""

    def __init__(self, http: TetherHttp, grpc: SidecarClient, app_id: str | None) -> None:
        self.http = http
        self.grpc = grpc
        self.app_id = app_id  # None: every app on the tether's store

    def list_all(self) -> list[InstanceView]:
        views: list[InstanceView] = []
        cursor: str | None = None
        while True:
            params = [
                ("appID", self.app_id or "*"),
                ("limit", str(PAGE_SIZE)),
                ("details", "true"),
            ]
            if cursor:
                params.append(("cursor", cursor))
            page = self.http.get("/instances", params)
            views.extend(instance_from_document(d) for d in page["instances"])
            cursor = page.get("nextCursor")
            if not cursor:
                return views

    def get(self, instance_id: str) -> InstanceView:
        try:
            doc = self.http.get(f"/instances/{quote(instance_id)}")
        except HttpError as exc:
            if exc.status == 404:
                raise not_found(instance_id) from None
            raise
        return instance_from_document(doc)

    def history(self, instance_id: str) -> HistoryView:
        app_id = self.get(instance_id).app_id
        response = self.grpc.call(
            "GetInstanceHistory",
            pb.GetInstanceHistoryRequest(instanceId=instance_id),
            pb.GetInstanceHistoryResponse,
        )
        events = history_views(list(response.events), dapr_order=True)
        return HistoryView(instance_id, app_id, events)

    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        for instance_id in instance_ids:
            try:
                result = self.http.post(
                    f"/instances/{quote(instance_id)}/purge",
                    {"force": force, "recursive": False},
                )
            except CliError as exc:
                raise CliError(f"{instance_id}: {exc.message}") from None
            if result["deletedInstanceCount"] == 0:
                raise CliError(f"{instance_id}: {not_found(instance_id).message}")
            done(instance_id)


class StoreSource:
    """A store opened directly, no tether running on it: reads through the read model, purges
    through the engine's operations run here (:mod:`tether.engine.admin`)."""

    def __init__(self, url: str, app_id: str | None) -> None:
        self.url = url
        self.app_id = app_id

    def _run(self, fn: Callable[[Query], Awaitable[T]]) -> T:
        return on_store(self.url, lambda admin: fn(admin.query))

    def list_all(self) -> list[InstanceView]:
        async def read(query: Query) -> list[InstanceView]:
            page = await query.instances(ListQuery(app_id=self.app_id))
            return page.instances

        return self._run(read)

    def _mine(self, view: InstanceView | None) -> bool:
        return view is not None and (self.app_id is None or view.app_id == self.app_id)

    def get(self, instance_id: str) -> InstanceView:
        view = self._run(lambda q: q.instance(instance_id))
        if view is None or not self._mine(view):
            raise not_found(instance_id)
        return view

    def history(self, instance_id: str) -> HistoryView:
        self.get(instance_id)
        return self._run(lambda q: q.history(instance_id, dapr_order=True))

    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        async def purge(admin: Admin) -> None:
            for instance_id in instance_ids:
                if not self._mine(await admin.query.instance(instance_id)):
                    raise CliError(f"{instance_id}: {not_found(instance_id).message}")
                try:
                    await admin.purge(instance_id, recursive=False, force=force)
                except TetherError as exc:
                    raise CliError(f"{instance_id}: {exc.message}") from None
                done(instance_id)

        on_store(self.url, purge)
