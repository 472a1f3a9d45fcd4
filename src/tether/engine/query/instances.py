"""Views of instances and the listing query: what a row of ``instances`` shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.errors import InvalidArgument
from tether.store.base import (
    InstanceFilter,
    InstanceRow,
)

SORT_KEYS = {"instance_id": "instance_id", "created": "created_at", "updated": "updated_at"}
PAYLOAD_FIELDS = ("input", "result")


# -- instances ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FailureView:
    error_type: str
    message: str
    stack_trace: str | None = None
    non_retriable: bool = False
    cause: FailureView | None = None


@dataclass(frozen=True, slots=True)
class StallView:
    reason: str  # the StalledReason name, e.g. PAYLOAD_SIZE_EXCEEDED
    description: str | None


@dataclass(frozen=True, slots=True)
class InstanceView:
    instance_id: str
    app_id: str
    name: str
    status: int
    execution_id: str
    created_at: int | None  # None while the start is not committed (a scheduled start)
    updated_at: int | None
    started_at: int | None = None
    completed_at: int | None = None
    scheduled_start: int | None = None
    parent_instance_id: str | None = None
    parent_app_id: str | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: FailureView | None = None
    stall: StallView | None = None
    version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def status_name(self) -> str:
        """The full status name, STALLED included (``UNKNOWN`` for a status this build lacks)."""
        return pb.STATUS_NAMES.get(self.status, "UNKNOWN")

    @property
    def terminal(self) -> bool:
        return self.status in pb.TERMINAL_STATUSES


def failure_view(details: Any) -> FailureView:
    return FailureView(
        error_type=details.errorType,
        message=details.errorMessage,
        stack_trace=details.stackTrace.value if details.HasField("stackTrace") else None,
        non_retriable=details.isNonRetriable,
        cause=failure_view(details.innerFailure) if details.HasField("innerFailure") else None,
    )


def _enum_name(message: Any, field_name: str) -> str:
    number = getattr(message, field_name)
    value = message.DESCRIPTOR.fields_by_name[field_name].enum_type.values_by_number.get(number)
    return value.name if value is not None else str(number)


def instance_view(row: InstanceRow) -> InstanceView:
    parent_app = None
    if row.parent:
        info = pb.ParentInstanceInfo.FromString(row.parent)
        parent_app = info.appID if info.HasField("appID") and info.appID else None
    stall = None
    if row.stall:
        event = pb.ExecutionStalledEvent.FromString(row.stall)
        stall = StallView(
            reason=_enum_name(event, "reason"),
            description=event.description if event.HasField("description") else None,
        )
    return InstanceView(
        instance_id=row.instance_id,
        app_id=row.app_id,
        name=row.name,
        status=row.status,
        execution_id=row.execution_id,
        created_at=row.created_at or None,
        updated_at=row.updated_at or None,
        started_at=row.started_at or None,
        completed_at=row.completed_at or None,
        scheduled_start=row.scheduled_start or None,
        parent_instance_id=row.parent_instance_id,
        parent_app_id=parent_app,
        input=row.input,
        output=row.output,
        custom_status=row.custom_status,
        failure=failure_view(pb.TaskFailureDetails.FromString(row.failure))
        if row.failure
        else None,
        stall=stall,
        version=row.version_name,
        tags=dict(row.tags),
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Which instances a listing shows, in which order, from where (``cursor``), how many."""

    app_id: str | None = None  # None: every app
    statuses: tuple[int, ...] = ()
    name: str | None = None
    created_from: int | None = None  # inclusive
    created_to: int | None = None  # exclusive
    updated_from: int | None = None
    updated_to: int | None = None
    id_prefix: str | None = None
    parent_instance_id: str | None = None
    has_parent: bool | None = None  # True: child workflows only; False: top-level only
    sort: str = "instance_id"  # a key of SORT_KEYS
    descending: bool = False
    cursor: str | None = None  # a page's next_cursor
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class InstancePage:
    instances: list[InstanceView]
    next_cursor: str | None


def store_filter(q: ListQuery) -> InstanceFilter:
    if q.sort not in SORT_KEYS:
        raise InvalidArgument(f"cannot sort by {q.sort!r}; use one of {', '.join(SORT_KEYS)}")
    flt = InstanceFilter(
        app_id=q.app_id,
        statuses=list(q.statuses) or None,
        name=q.name,
        created_from=q.created_from,
        created_to=q.created_to,
        updated_from=q.updated_from,
        updated_to=q.updated_to,
        id_prefix=q.id_prefix,
        parent_instance_id=q.parent_instance_id,
        has_parent=q.has_parent,
        order_by=SORT_KEYS[q.sort],
        descending=q.descending,
        limit=q.limit + 1 if q.limit else None,
    )
    if q.cursor:
        flt.after_id, flt.after_key = _parse_cursor(q.cursor, q.sort)
    return flt


def cursor_of(row: InstanceRow, sort: str) -> str:
    # Ordered by ID the cursor is the last ID; by a time it is "<ns>:<ID>" (the ns are digits,
    # so the first colon separates them from any ID).
    if sort == "instance_id":
        return row.instance_id
    key = row.created_at if sort == "created" else row.updated_at
    return f"{key}:{row.instance_id}"


def _parse_cursor(cursor: str, sort: str) -> tuple[str, int | None]:
    if sort == "instance_id":
        return cursor, None
    key, sep, instance_id = cursor.partition(":")
    if not sep or not key.isdigit():
        raise InvalidArgument(
            f"cursor {cursor!r} does not belong to a listing sorted by {sort}: "
            "pass the nextCursor of the previous page with the same sort"
        )
    return instance_id, int(key)
