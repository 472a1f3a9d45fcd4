"""The storage contract every backend implements.

The engine composes its atomic changes as a function over a :class:`Tx` and hands it to
:meth:`Store.write`; the backend runs it inside a transaction (batched with other writers into one
commit where it can) and returns only once the change is durable. Reads go through
:meth:`Store.read` with a :class:`Reader`. All SQL lives in the backends.

Errors (all in :mod:`tether.errors`, rooted at ``TetherError``; a driver error is translated at
the backend's edge and kept as ``__cause__``):

- :class:`~tether.errors.StoreUnavailable`: the database is busy past its timeout, or cannot be
  reached, or an I/O error happened. Nothing of the failed transaction was written; the same
  write may succeed later. Its subclass :class:`~tether.errors.StoreUnreachable` says no
  connection could be made within the backend's own wait (a database server that is down);
  the engine does not retry it.
- :class:`~tether.errors.StoreFull`: no space left. Nothing was written.
- :class:`~tether.errors.Conflict`: a constraint was violated (e.g. a primary key taken).
- :class:`~tether.errors.LeaseLost`: a fenced write whose lease is gone (see *Leases*).
- :class:`~tether.errors.StoreError`: any other failure of the database itself.

An exception raised by the caller's own function rolls back that function's changes only and
reaches that caller unchanged (other functions batched in the same commit are unaffected).

Leases. Every node has a *node lease* (its row in the node table with an expiry); an instance's
lease is (owner node, epoch) on the instance row, expiring with its owner's node lease, so one
renewal per node keeps all its instances. The epoch grows at every change of owner. Expiry is
judged by :meth:`Reader.store_now`, the store's one clock, never a node's own: see the backend
for how it is kept. An owner starts each of its transactions with :meth:`Tx.fence`, which
conditions every write of that transaction on its lease.

Change feed. The backend tells the engine *which* instances changed: every committed write that
adds or removes inbox rows, adds activity tasks, or creates, updates or deletes an instance
produces a :class:`Change` (deduplicated per transaction). :meth:`Store.set_change_listener`
receives the changes of *other* writers (other processes, other store objects), in commit order.
The contract fits PostgreSQL's ``LISTEN/NOTIFY`` (one notification per change with the
:class:`Change` as payload) as well as SQLite's change table read with a cursor; a backend that
may have missed changes (a pruned table, a dropped connection) delivers one ``RESYNC`` change,
after which the engine reconciles from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")

# Change kinds.
# An instance row was created, deleted or changed status. A write that keeps the status of a
# row its own fence read (a turn of a running instance) announces nothing: waiters elsewhere
# wait for statuses, and only the owner acts on the rest (a node that lost the lease learns it
# from its own lease check or its next fenced write).
INSTANCE = "instance"
INBOX = "inbox"  # inbox rows of an instance were added or removed
TASK = "task"  # unowned activity tasks were added (app_id: the app that runs them)
# A non-terminal instance row was stored without an owner (a child started by another app, a
# rerun, a restored reminder's instance): a node of its app should claim it. Sent beside its
# INSTANCE change, so a node never reads a row just to learn whether it is up for claiming.
CLAIMABLE = "claimable"
RESYNC = "resync"  # changes may have been missed: reconcile everything from the store

# Instance statuses are stored as the protocol's OrchestrationStatus numbers; these end an
# instance (COMPLETED, FAILED, CANCELED, TERMINATED). A unit test keeps them equal to pb's.
TERMINAL_STATUSES = frozenset({1, 3, 4, 5})


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
    epoch: int = 0  # grows at every change of owner; an owner's writes are fenced on it


@dataclass(slots=True)
class MessageRow:
    msg_id: int
    instance_id: str
    app_id: str  # the app whose nodes run the instance
    event: bytes  # serialized HistoryEvent
    visible_at: int  # 0: at once; otherwise ns since epoch (a timer's fire time)
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
    heartbeat_at: int  # store clock at the last renewal
    lease_expires: int = 0  # store clock; the node's lease (and its instances') ends here


@dataclass(slots=True, frozen=True)
class Lease:
    """An instance this node now owns: fence its writes with (owner, epoch). ``previous_owner``
    is the node whose lease lapsed (a takeover), None for an instance nobody owned yet."""

    instance_id: str
    owner: str
    epoch: int
    previous_owner: str | None = None

    @property
    def taken_over(self) -> bool:
        return self.previous_owner is not None


@dataclass(slots=True, frozen=True)
class Change:
    """One committed change another writer made: ``kind`` of what changed, for which instance
    (empty for ``RESYNC``) of which app."""

    kind: str
    app_id: str
    instance_id: str


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
class QueueStats:
    """Counts over stored state for the metrics endpoint, per app (one cheap scan per table)."""

    instances: dict[tuple[str, int], int]  # (app_id, status) -> instances
    inbox_ready: dict[str, tuple[int, int]]  # app_id -> (deliverable messages, oldest visible_at)
    inbox_waiting: dict[str, int]  # app_id -> messages not visible yet (timers, scheduled starts)
    timers_due: dict[str, int]  # app_id -> delayed messages whose time has come, undelivered
    tasks: dict[str, tuple[int, int]]  # app_id -> (unresolved activities, oldest created_at)


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
    """What :meth:`Reader.store_size` reports."""

    bytes: int  # space the store occupies
    instances: int
    inbox: int
    tasks: int


class Reader(Protocol):
    """Reads on one consistent snapshot. Every method returns plain rows; none raises for a
    missing key (it returns None or an empty list)."""

    def store_now(self) -> int:
        """The store's clock in ns, one for every node; lease expiry is judged by it. It never
        goes back: not within one store object, and no process ever reads a value below one a
        committed write used."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRow | None: ...
    def instance_route(self, instance_id: str) -> tuple[str, int, str] | None:
        """(app_id, status, execution_id) of an instance: what delivering to it needs."""
        ...

    def load_history(self, instance_id: str) -> list[bytes]:
        """The instance's history events in order (empty if none)."""
        ...

    def load_messages(self, instance_id: str) -> list[MessageRow]:
        """The instance's inbox, visible or not, by (order, msg_id)."""
        ...

    def load_tasks(self, instance_id: str) -> list[TaskRow]:
        """The instance's unresolved activity tasks by task id."""
        ...

    def list_instances(self, flt: InstanceFilter) -> list[InstanceRow]:
        """Instances matching every set field of ``flt``, in its order (``order_by``, then id)."""
        ...

    def count_instances(self, flt: InstanceFilter) -> dict[int, int]:
        """Instances matching ``flt`` per status (its order, cursor and limit are ignored)."""
        ...

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]: ...
    def list_timers(self, app_id: str | None) -> list[MessageRow]:
        """Inbox rows (of ``app_id``'s instances, or all) by visible_at."""
        ...

    def list_nodes(self) -> list[NodeRow]:
        """Every registered node, expired or not (compare ``lease_expires`` to store_now)."""
        ...

    def check_integrity(self) -> list[str]:
        """Problems found in the stored data (empty when sound)."""
        ...

    def queue_stats(self, now: int) -> QueueStats:
        """Counts per app over instances, inbox and tasks for the metrics endpoint, with
        ``now`` (ns) deciding which inbox rows are deliverable."""
        ...

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
    """Writes inside one transaction. Unless said otherwise a method raises only the store
    errors listed in the module docstring."""

    def fence(self, instance_id: str, owner: str, epoch: int) -> None:
        """Condition the rest of this transaction on ``owner`` holding the instance's lease at
        ``epoch`` with an unexpired node lease; raise ``LeaseLost`` otherwise (the caller's
        function then fails and nothing of it is written). The row stays locked against other
        writers until the commit."""
        ...

    def upsert_instance(self, row: InstanceRow) -> None:
        """Insert the row, or update an existing one's fields except owner and epoch (which only
        the creation and claims set)."""
        ...

    def delete_instance(self, instance_id: str) -> None:
        """Delete the instance with its history, inbox and tasks (no-op if absent)."""
        ...

    def append_history(self, instance_id: str, first_seq: int, events: Sequence[bytes]) -> None:
        """Append events at sequence numbers ``first_seq``…; ``Conflict`` if one is taken."""
        ...

    def clear_history(self, instance_id: str) -> None: ...
    def add_messages(self, rows: Sequence[MessageRow]) -> None:
        """Insert inbox rows; ``Conflict`` if a msg_id is taken."""
        ...

    def delete_messages(self, msg_ids: Sequence[int]) -> None:
        """Delete inbox rows by id (absent ids are ignored)."""
        ...

    def clear_messages(self, instance_id: str, only_execution: str | None = None) -> None: ...
    def add_tasks(self, rows: Sequence[TaskRow]) -> None:
        """Insert activity tasks (replacing one with the same instance and task id)."""
        ...

    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool:
        """Delete the task row; True if it was there. A result is accepted only by the
        transaction whose take returned True, so at most once, whoever delivers it."""
        ...

    def clear_tasks(self, instance_id: str) -> None: ...
    def register_node(self, row: NodeRow, lease_ns: int) -> int:
        """Insert (or replace) the node's row with a lease of ``lease_ns`` from store_now;
        return the lease's expiry (store clock)."""
        ...

    def renew_node(self, node_id: str, lease_ns: int) -> int:
        """Extend the node's lease to store_now + ``lease_ns`` and return the expiry;
        ``LeaseLost`` if the row is gone or its lease already expired (another node may have
        claimed its work: the node must forget everything and register anew)."""
        ...

    def expire_node(self, node_id: str) -> None:
        """End a node's lease now (its process is known to be gone); no-op if absent."""
        ...

    def delete_node(self, node_id: str) -> None: ...
    def claim_instances(self, node_id: str, app_id: str, limit: int) -> list[Lease]:
        """Take over non-terminal instances of ``app_id`` without a live owner: unowned ones and
        those whose owner's node lease expired. At most ``limit``, and at most this node's fair
        share (the app's non-terminal instances divided among its live nodes, less what it
        owns), so a takeover spreads across nodes. Each claimed instance's epoch grows by one;
        each lease names the owner it was taken from. ``LeaseLost`` if ``node_id``'s own lease
        is not live."""
        ...

    def claim_tasks(self, node_id: str, app_id: str, limit: int) -> list[TaskRow]:
        """Take over up to ``limit`` activity tasks of ``app_id`` without a live owner (a share
        of them, as for instances); ``LeaseLost`` if ``node_id``'s own lease is not live."""
        ...


class Store(Protocol):
    url: str
    kind: str

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a transaction; return its result after the commit is durable.

        Raises what ``fn`` raised (its changes undone), or a store error of the module
        docstring (the whole transaction undone).
        """
        ...

    async def read(self, fn: Callable[[Reader], T], *, keyed: bool = False) -> T:
        """Run ``fn`` on a consistent snapshot of committed data.

        ``keyed`` marks a read of a few rows by primary key: a store whose reads cost a thread
        hop may run it in the calling thread instead, since it takes microseconds.
        Raises ``StoreUnavailable`` or ``StoreError`` when the database fails.
        """
        ...

    def set_change_listener(self, callback: Callable[[Sequence[Change]], None]) -> None:
        """Deliver other writers' committed changes to ``callback`` (from any thread), in commit
        order; a ``RESYNC`` change when some may have been missed."""
        ...

    async def close(self) -> None: ...
