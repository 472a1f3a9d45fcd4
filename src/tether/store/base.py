"""The storage contract every backend implements.

The engine composes its atomic changes as a function over a :class:`Tx` and hands it to
:meth:`Store.write`; the backend runs it inside a transaction (batched with other writers into one
commit where it can) and returns only once the change is durable. Reads go through
:meth:`Store.read` with a :class:`Reader`. All SQL lives in the backends.

Errors: backends raise :class:`tether.errors.StoreError` (driver error as ``__cause__``) for
failures of the database itself; an exception raised by the caller's function rolls back that
function's changes only and reaches that caller unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class InstanceRow:
    instance_id: str
    app_id: str
    name: str
    status: int
    execution_id: str
    created_at: int  # ns since epoch; 0 while the start is not committed
    updated_at: int
    started_at: int | None = None
    completed_at: int | None = None
    scheduled_start: int | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: bytes | None = None  # serialized TaskFailureDetails
    parent_instance_id: str | None = None
    parent: bytes | None = None  # serialized ParentInstanceInfo
    stall: bytes | None = None  # serialized ExecutionStalledEvent
    version_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    owner: str | None = None  # node currently running this instance


@dataclass(slots=True)
class MessageRow:
    msg_id: int
    instance_id: str
    app_id: str  # the app whose nodes run the instance
    event: bytes  # serialized HistoryEvent
    visible_at: int
    execution_id: str | None
    order: int


@dataclass(slots=True)
class TaskRow:
    instance_id: str
    execution_id: str
    task_id: int
    app_id: str  # the app whose workers run the activity
    request: bytes  # serialized ActivityRequest
    created_at: int
    owner: str | None = None


@dataclass(slots=True)
class NodeRow:
    node_id: str
    app_id: str
    host: str
    pid: int
    grpc_port: int
    http_port: int
    started_at: int
    heartbeat_at: int


@dataclass(slots=True)
class InstanceFilter:
    app_id: str | None = None
    statuses: Sequence[int] | None = None
    name: str | None = None
    created_from: int | None = None  # inclusive, ns
    created_to: int | None = None  # exclusive, ns
    parent_instance_id: str | None = None
    has_parent: bool | None = None  # True: child workflows only; False: top-level only
    updated_from: int | None = None  # inclusive, ns
    updated_to: int | None = None  # exclusive, ns
    id_prefix: str | None = None
    order_by: str = "instance_id"  # or "created_at", "updated_at" (ties broken by instance_id)
    descending: bool = False
    after_id: str | None = None  # cursor: instance ids after this one in the listing's order
    after_key: int | None = None  # cursor with a time order: the last row's order_by value
    limit: int | None = None


@dataclass(slots=True)
class NameStatsRow:
    """Aggregates of one workflow name over a window (see :meth:`Reader.workflow_stats`)."""

    name: str
    created: dict[int, int] = field(default_factory=dict)  # status -> instances created
    started: dict[int, int] = field(default_factory=dict)  # bucket index -> instances created
    finished: dict[int, int] = field(default_factory=dict)  # terminal status -> runs finished
    durations: dict[int, int] = field(default_factory=dict)  # percentile -> ns (COMPLETED runs)
    failures: list[tuple[bytes, int]] = field(default_factory=list)  # TaskFailureDetails, count


@dataclass(slots=True)
class StoreSize:
    bytes: int  # space the store occupies
    instances: int
    inbox: int
    tasks: int


class Reader(Protocol):
    def get_instance(self, instance_id: str) -> InstanceRow | None: ...
    def instance_route(self, instance_id: str) -> tuple[str, int, str] | None:
        """(app_id, status, execution_id) of an instance: what delivering to it needs."""
        ...

    def load_history(self, instance_id: str) -> list[bytes]: ...
    def load_messages(self, instance_id: str) -> list[MessageRow]: ...
    def load_tasks(self, instance_id: str) -> list[TaskRow]: ...
    def list_instances(self, flt: InstanceFilter) -> list[InstanceRow]: ...
    def count_instances(self, flt: InstanceFilter) -> dict[int, int]:
        """Instances matching ``flt`` per status (its order, cursor and limit are ignored)."""
        ...

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]: ...
    def list_timers(self, app_id: str | None) -> list[MessageRow]: ...
    def list_nodes(self) -> list[NodeRow]: ...
    def inbox_index(self, app_id: str) -> list[tuple[int, str]]:
        """(msg_id, instance_id) of every inbox message for instances run by ``app_id``."""
        ...

    def check_integrity(self) -> list[str]: ...
    def workflow_stats(
        self,
        since: int,
        until: int,
        bucket_ns: int,
        app_id: str | None,
        percentiles: Sequence[int],
        top_failures: int,
    ) -> list[NameStatsRow]:
        """Per workflow name, over ``[since, until)``: instances created per status and per
        ``bucket_ns`` bucket (index 0 starts at ``since``), runs finished (``completed_at`` in the
        window) per terminal status, the nearest-rank ``percentiles`` of COMPLETED runs'
        durations (``completed_at`` minus ``started_at``, else ``created_at``), and the
        ``top_failures`` most frequent failure details of FAILED runs. Computed by the database
        (grouping and window functions), never by loading instances."""
        ...

    def store_size(self) -> StoreSize:
        """What the store occupies, and how many instances, inbox messages and tasks it holds."""
        ...


class Tx(Reader, Protocol):
    def upsert_instance(self, row: InstanceRow) -> None: ...
    def delete_instance(self, instance_id: str) -> None: ...
    def append_history(self, instance_id: str, first_seq: int, events: Sequence[bytes]) -> None: ...
    def clear_history(self, instance_id: str) -> None: ...
    def add_messages(self, rows: Sequence[MessageRow]) -> None: ...
    def delete_messages(self, msg_ids: Sequence[int]) -> None: ...
    def clear_messages(self, instance_id: str, only_execution: str | None = None) -> None: ...
    def add_tasks(self, rows: Sequence[TaskRow]) -> None: ...
    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool: ...
    def clear_tasks(self, instance_id: str) -> None: ...
    def claim_instances(
        self, node_id: str, app_id: str, live_nodes: Sequence[str]
    ) -> list[str]: ...
    def claim_instance(self, instance_id: str, node_id: str, live_nodes: Sequence[str]) -> bool: ...
    def claim_tasks(
        self, node_id: str, app_id: str, live_nodes: Sequence[str]
    ) -> list[TaskRow]: ...
    def upsert_node(self, row: NodeRow) -> None: ...
    def delete_node(self, node_id: str) -> None: ...


class Store(Protocol):
    url: str
    kind: str

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a transaction; return after the commit is durable."""
        ...

    async def read(self, fn: Callable[[Reader], T], *, keyed: bool = False) -> T:
        """Run ``fn`` on a consistent snapshot of committed data.

        ``keyed`` marks a read of a few rows by primary key: a store whose reads cost a thread
        hop may run it in the calling thread instead, since it takes microseconds.
        """
        ...

    def set_change_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) when another process may have changed the store."""
        ...

    async def close(self) -> None: ...
