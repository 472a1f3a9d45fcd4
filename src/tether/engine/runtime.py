"""The runtime: turns of the instances this node owns, activity dispatch, timers, recovery.

Every non-terminal instance of this node's app that this node owns is *active*: its state lives in
memory, equal to what is committed. A change is computed by the pure core, committed through the
store, and only then applied to memory and made visible (work pushed to workers, waiters woken).
Other processes sharing the store only ever create instances and append to inboxes; the store's
change signal makes this node rescan for such writes.

Two things run ahead of the store, because a turn has no effect until its own commit and that
commit waits for them: a new instance whose creator waits for its first turn (a gRPC start, as
in Dapr) is sent to a worker at once and its creation is committed with that turn (see
:class:`Creation`; until then readers do not see it); and an activity's result joins the inbox
in memory, starting the next turn, while its own commit is on the way (``Active.unsaved``). If
such a write fails, the instance's memory is thrown away and reloaded from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tether import pb
from tether.core.commit import apply_result, next_meta, restart_messages
from tether.core.events import task_result, to_timestamp
from tether.core.state import InstanceState, Message, TaskSpec
from tether.core.turns import (
    TurnPlan,
    TurnResult,
    apply_response,
    force_terminate,
    plan_turn,
)
from tether.engine.convert import (
    message_from_row,
    message_row,
    new_msg_id,
    now_ns,
    pending_row,
    row_from_state,
    row_with_meta,
    state_from_rows,
)
from tether.engine.dispatch import Dispatcher, Work, WorkerStream, token_execution
from tether.engine.nodes import NodeRegistry
from tether.engine.txops import append_message, deliver_tx, load_messages
from tether.errors import TetherError, Unavailable
from tether.settings import Settings
from tether.store.base import InstanceRow, MessageRow, Reader, Store, TaskRow, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

_GONE_LIMIT = 4096


class _AlreadyActive(TetherError):
    """A creation found an active instance with its ID: the start is an idempotent no-op."""


@dataclass(eq=False)
class Creation:
    """A new instance not yet in the store: its creation commits with its first turn.

    Its first turn runs on a worker while nothing is stored, which is safe because a turn has no
    effect until its commit, and that commit writes the creation too (or fails with it).
    """

    write: Callable[[Tx], bool]  # the creation's writes; False: an active instance has the ID
    saved: asyncio.Future[bool]  # resolved when the creation is durable (or refused)
    taken: bool = False  # a commit carrying the creation is on its way


@dataclass(eq=False)
class Active:
    state: InstanceState
    creation: Creation | None = None
    turn: Work | None = None
    plan: TurnPlan | None = None
    committing: bool = False
    retry_stall: bool = False
    gone: set[int] = field(default_factory=set)  # msg ids consumed here; never re-added by a scan
    tasks: dict[int, Work] = field(default_factory=dict)
    # Inbox messages in memory whose commit is on the way: msg id -> True once stored.
    unsaved: dict[int, asyncio.Future[bool]] = field(default_factory=dict)

    def add_message(self, message: Message) -> bool:
        if message.msg_id in self.gone or any(m.msg_id == message.msg_id for m in self.state.inbox):
            return False
        inbox = self.state.inbox
        if inbox and inbox[-1].order > message.order:
            inbox.append(message)
            inbox.sort(key=lambda m: (m.order, m.msg_id))
        else:
            inbox.append(message)
        return True

    def remember_gone(self, ids: list[int]) -> None:
        self.gone.update(ids)
        if len(self.gone) > _GONE_LIMIT:
            self.gone = set(list(self.gone)[-_GONE_LIMIT // 2 :])

    def remove_messages(self, ids: list[int]) -> None:
        if not ids:
            return
        self.remember_gone(ids)
        drop = set(ids)
        self.state.inbox = [m for m in self.state.inbox if m.msg_id not in drop]


class Runtime:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.app_id = settings.app_id
        self.store = store
        self.dispatcher = Dispatcher()
        self.dispatcher.on_connect = self._on_worker_connect
        self.nodes = NodeRegistry(settings, store)
        self.active: dict[str, Active] = {}
        self._watchers: dict[str, set[asyncio.Future[InstanceRow | None]]] = {}
        self._timer_heap: list[tuple[int, str]] = []
        self._timer_wake = asyncio.Event()
        self._scan_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = False

    @property
    def node_id(self) -> str:
        return self.nodes.node_id

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self, grpc_port: int = 0, http_port: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        await self.nodes.register(grpc_port, http_port)
        self.store.set_change_listener(self._on_store_changed)
        self.running = True
        await self._recover()
        self._tasks = [
            asyncio.create_task(self._timer_loop(), name="tether-timers"),
            asyncio.create_task(self._scan_loop(), name="tether-scan"),
            asyncio.create_task(self._heartbeat_loop(), name="tether-heartbeat"),
        ]

    async def stop(self) -> None:
        """Stop taking work, let in-flight commits finish, and leave the node registry."""
        if not self.running:
            return
        self.running = False
        self.dispatcher.close_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending = [t for t in self._background if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)
        await self.nodes.unregister()
        for futures in self._watchers.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def detached(self, coro: Awaitable[T]) -> Awaitable[T]:
        """Run ``coro`` to its end even if whoever awaits it is cancelled (a client hanging up).

        Engine operations commit and then apply the commit to memory; cancelled in between,
        memory would stay behind the store. The caller still gets the result or the error.
        """
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(_detached_done)
        task.add_done_callback(self._background.discard)
        return asyncio.shield(task)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _require_running(self) -> None:
        if not self.running:
            raise Unavailable("tether is shutting down; retry against a running sidecar")

    # -- recovery and other processes' writes --------------------------------------------------
    async def _recover(self) -> None:
        live = await self.nodes.live_node_ids()
        claimed = await self.store.write(
            lambda tx: tx.claim_instances(self.node_id, self.app_id, live)
        )
        for instance_id in claimed:
            await self._load(instance_id)
        await self._claim_tasks(live)
        if claimed:
            log.info("resumed %d instance(s) from the store", len(claimed))

    async def _load(self, instance_id: str) -> Active | None:
        def read(tx: Reader) -> tuple[InstanceRow | None, list[bytes], list[MessageRow]]:
            row = tx.get_instance(instance_id)
            if row is None:
                return None, [], []
            return row, tx.load_history(instance_id), tx.load_messages(instance_id)

        row, history, messages = await self.store.read(read)
        if row is None or row.status in pb.TERMINAL_STATUSES or row.owner != self.node_id:
            return None
        if instance_id in self.active:
            return self.active[instance_id]
        active = Active(state=state_from_rows(row, history, messages))
        self.active[instance_id] = active
        self._schedule(active)
        return active

    async def _claim_tasks(self, live: list[str]) -> None:
        rows = await self.store.write(lambda tx: tx.claim_tasks(self.node_id, self.app_id, live))
        for row in rows:
            self._dispatch_row(row)

    def _dispatch_row(self, row: TaskRow) -> None:
        self._dispatch_task(
            TaskSpec(
                instance_id=row.instance_id,
                execution_id=row.execution_id,
                task_id=row.task_id,
                app_id=row.app_id,
                request=pb.ActivityRequest.FromString(row.request),
            )
        )

    def _on_store_changed(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._scan_wake.set)

    async def _scan_loop(self) -> None:
        while True:
            await self._scan_wake.wait()
            self._scan_wake.clear()
            try:
                await self._scan()
            except TetherError:
                log.exception("scanning the store for other processes' writes failed")
            for instance_id in list(self._watchers):
                self._notify(instance_id)

    async def _scan(self) -> None:
        live = await self.nodes.live_node_ids()
        claimed = await self.store.write(
            lambda tx: tx.claim_instances(self.node_id, self.app_id, live)
        )
        if claimed:
            log.info(
                "taking over %d instance(s) of app %r (new here, or left by a stopped node)",
                len(claimed),
                self.app_id,
            )
        for instance_id in claimed:
            await self._load(instance_id)
        # Messages in memory now are committed; any of them missing from the index read below was
        # deleted by another process (e.g. `tether scheduler delete` of a durable timer).
        known = {
            i: [m.msg_id for m in a.state.inbox if m.msg_id not in a.unsaved]
            for i, a in self.active.items()
        }
        index = await self.store.read(lambda tx: tx.inbox_index(self.app_id))
        self._forget_deleted(known, index)
        unknown: set[str] = set()
        for msg_id, instance_id in index:
            active = self.active.get(instance_id)
            if active is None:
                continue
            if msg_id in active.gone or any(m.msg_id == msg_id for m in active.state.inbox):
                continue
            unknown.add(instance_id)
        for instance_id in unknown:
            rows = await self.store.read(functools.partial(load_messages, instance_id=instance_id))
            active = self.active.get(instance_id)
            if active is None:
                continue
            added = False
            for row in rows:
                added |= active.add_message(message_from_row(row))
            if added:
                self._schedule(active)
        await self._claim_tasks(live)

    def _forget_deleted(self, known: dict[str, list[int]], index: list[tuple[int, str]]) -> None:
        present: dict[str, set[int]] = {}
        for msg_id, instance_id in index:
            present.setdefault(instance_id, set()).add(msg_id)
        for instance_id, msg_ids in known.items():
            active = self.active.get(instance_id)
            if active is None or active.committing or active.creation is not None:
                continue
            in_flight = set(active.plan.consumed) if active.plan is not None else set()
            stored = present.get(instance_id, set())
            deleted = [m for m in msg_ids if m not in stored and m not in in_flight]
            active.remove_messages(deleted)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                if await self.nodes.heartbeat():
                    self._scan_wake.set()  # a node died: take over its work
            except TetherError:
                log.exception("heartbeat failed")

    # -- turns ---------------------------------------------------------------------------------
    def _schedule(self, active: Active) -> None:
        """Start the instance's next turn if it has deliverable messages and none in flight."""
        if active.turn is not None and active.turn.stream is None and not active.committing:
            # The turn is parked until a worker connects and no worker has seen it: withdraw it
            # and plan afresh, so what arrived since (e.g. a terminate) is part of the turn.
            self.dispatcher.finish(active.turn)
            active.turn = None
            active.plan = None
        if not self.running or active.turn is not None or active.committing:
            return
        state = active.state
        if state.terminal:
            return
        stalled = state.stall is not None and not active.retry_stall
        if stalled and not any(m.event.HasField("executionTerminated") for m in state.inbox):
            return  # a stalled instance waits for new code, but can always be terminated
        now = now_ns()
        plan = plan_turn(state, now, force_start=_has_terminate(state))
        if plan is None:
            upcoming = [m.visible_at for m in state.inbox if m.visible_at > now]
            if upcoming:
                self._arm(min(upcoming), state.instance_id)
            return
        active.retry_stall = False
        if not plan.new_events:
            self._spawn(self._commit_drops(active, plan.dropped))
            return
        if plan.delivers_terminate is not None and (
            stalled or not self.dispatcher.connected or not state.started
        ):
            active.committing = True
            self._spawn(self._commit_turn(active, plan, force_terminate(state, plan, now), now))
            return
        size = state.history_size + sum(e.ByteSize() for e in plan.new_events)
        if size > self.settings.max_payload_bytes:
            active.committing = True
            self._spawn(self._stall_oversized(active, plan, size, now))
            return
        active.plan = plan
        work = Work(
            kind="turn",
            instance_id=state.instance_id,
            execution_id=state.execution_id,
            build=lambda stream: self._turn_item(active, stream),
        )
        active.turn = work
        self.dispatcher.send(work)

    def _turn_item(self, active: Active, stream: WorkerStream) -> Any:
        state = active.state
        plan = active.plan
        assert plan is not None and active.turn is not None
        request = pb.WorkflowRequest(instanceId=state.instance_id)
        request.executionId.value = state.execution_id
        past = state.history
        cached = stream.warm.get(state.instance_id, 0) if stream.stateful else 0
        if 0 < cached <= len(past):
            request.pastEvents.extend(past[cached:])
            request.cachedHistory.eventCount = cached
        else:
            request.pastEvents.extend(past)
        request.newEvents.extend(plan.new_events)
        if stream.stateful:
            stream.warm[state.instance_id] = len(past)
        return pb.WorkItem(workflowRequest=request, completionToken=active.turn.token)

    async def complete_turn(self, response: Any) -> None:
        token = response.completionToken
        work = self.dispatcher.tokens.get(token) if token else None
        if work is None and not token:
            candidate = self.active.get(response.instanceId)
            work = candidate.turn if candidate is not None else None
        if work is None or work.kind != "turn":
            log.debug("discarding a stale workflow response for %r", response.instanceId)
            return
        active = self.active.get(work.instance_id)
        if active is None or active.turn is not work or active.plan is None or active.committing:
            return
        self.dispatcher.finish(work)
        now = now_ns()
        result = apply_response(active.state, active.plan, response, now)
        active.committing = True
        await self._commit_turn(active, active.plan, result, now)

    async def _stored(self, active: Active, msg_ids: list[int]) -> bool:
        """Wait until the messages a commit is about to consume are stored themselves; False
        when one of them could not be (the instance is being reloaded: drop the commit)."""
        pending = [active.unsaved[m] for m in msg_ids if m in active.unsaved]
        for outcome in pending:
            if not await asyncio.shield(outcome):
                return False
        return True

    def _reload(self, instance_id: str) -> None:
        """Memory ran ahead of a write that failed: forget it and load what the store holds."""
        log.warning("reloading %r from the store after a failed write", instance_id)
        old = self.active.get(instance_id)
        self._retire(instance_id)
        self._spawn(self._load_with_tasks(instance_id, old))

    async def _load_with_tasks(self, instance_id: str, old: Active | None) -> None:
        # Writes still on the way for the forgotten memory must land before the store is read.
        if old is not None:
            await asyncio.gather(*(asyncio.shield(f) for f in old.unsaved.values()))
        # The failed write may have been an activity's result: its task row is still stored and
        # owned here, but no dispatch is left for it, so send this node's tasks again.
        if await self._load(instance_id) is not None:
            rows = await self.store.read(lambda tx: tx.load_tasks(instance_id))
            for row in rows:
                if row.owner == self.node_id:
                    self._dispatch_row(row)

    async def _commit_drops(self, active: Active, dropped: list[int]) -> None:
        active.committing = True
        if not await self._stored(active, dropped):
            return
        try:
            await self.store.write(lambda tx: tx.delete_messages(dropped))
            active.remove_messages(dropped)
        finally:
            active.committing = False
        self._schedule(active)

    async def _stall_oversized(self, active: Active, plan: TurnPlan, size: int, now: int) -> None:
        result = TurnResult(status=pb.STALLED, custom_status=active.state.custom_status)
        result.stall = pb.ExecutionStalledEvent(
            reason=pb.PAYLOAD_SIZE_EXCEEDED,
            description=(
                f"the next work item for this instance is {size} bytes, over the "
                f"{self.settings.max_payload_bytes}-byte limit a worker can receive"
            ),
        )
        event = pb.HistoryEvent(eventId=-1)
        event.timestamp.CopyFrom(to_timestamp(now))
        event.executionStalled.CopyFrom(result.stall)
        result.history = [event]
        await self._commit_turn(active, TurnPlan([], [], plan.dropped), result, now)

    async def _commit_turn(
        self, active: Active, plan: TurnPlan, result: TurnResult, now: int
    ) -> None:
        state = active.state
        instance_id = state.instance_id
        creation = active.creation
        if creation is not None and creation.taken:
            # The creation is being committed on its own (the turn came late): wait for it.
            try:
                if not await asyncio.shield(creation.saved):
                    return
            except TetherError:
                return  # the creation failed; its creator was told
            creation = None
        if not await self._stored(active, [*plan.consumed, *plan.dropped]):
            return
        if creation is not None:
            creation.taken = True
        restart: list[Message] = []
        if result.continue_as_new is not None:
            count = 1 + len(result.continue_as_new.carryover)
            restart = restart_messages(
                state, plan, result, now, [new_msg_id() for _ in range(count)]
            )
        for timer in result.timers:
            timer.msg_id = new_msg_id()
            timer.order = now
        meta = next_meta(state, result, now)
        row = row_with_meta(state, meta, self.node_id)
        removed = [*result.consumed, *plan.dropped]
        history_bytes = [e.SerializeToString() for e in result.history]
        first_seq = len(state.history)
        task_rows = [
            TaskRow(
                instance_id=t.instance_id,
                execution_id=t.execution_id,
                task_id=t.task_id,
                app_id=t.app_id,
                request=t.request.SerializeToString(),
                created_at=now,
                owner=self.node_id if t.app_id == self.app_id else None,
            )
            for t in result.tasks
        ]
        old_execution = state.execution_id

        def commit(tx: Tx) -> tuple[list[MessageRow], list[InstanceRow]]:
            if creation is not None and not creation.write(tx):
                raise _AlreadyActive(instance_id)
            tx.delete_messages(removed)
            if result.continue_as_new is not None:
                tx.clear_history(instance_id)
                tx.clear_messages(instance_id, only_execution=old_execution)
                tx.clear_tasks(instance_id)
                tx.add_messages([message_row(m, instance_id, state.app_id) for m in restart])
            else:
                tx.append_history(instance_id, first_seq, history_bytes)
            if result.terminal:
                tx.clear_messages(instance_id)
                tx.clear_tasks(instance_id)
            tx.add_tasks(task_rows)
            tx.add_messages([message_row(m, instance_id, state.app_id) for m in result.timers])
            delivered: list[MessageRow] = []
            created: list[InstanceRow] = []
            for child in result.children:
                outcome = self._create_child_tx(tx, child, now)
                if isinstance(outcome, MessageRow):
                    delivered.append(outcome)
                elif outcome is not None:
                    created.append(outcome)
            for out in result.outgoing:
                message = deliver_tx(tx, out.instance_id, out.event, out.execution_id, now)
                if message is not None:
                    delivered.append(message)
            tx.upsert_instance(row)
            return delivered, created

        try:
            delivered, created = await self.store.write(commit)
        except TetherError as exc:
            if creation is not None:
                self._drop_creation(active, exc)
                return
            log.exception("committing a turn of %r failed; it will be retried", instance_id)
            active.turn = None
            active.committing = False
            self._arm(now_ns() + 1_000_000_000, instance_id)
            return

        # Durable: now memory and the outside world may see it.
        if creation is not None:
            active.creation = None
            creation.saved.set_result(True)
        active.remember_gone(removed)
        apply_result(state, plan, result, meta, restart)
        if result.continue_as_new is not None:
            for outstanding in active.tasks.values():
                self.dispatcher.finish(outstanding)
            active.tasks.clear()
            self.dispatcher.forget_instance(instance_id)
        active.turn = None
        active.plan = None
        active.committing = False

        for task in result.tasks:
            if task.app_id == self.app_id and not result.terminal:
                self._dispatch_task(task)
        for created_row in created:
            if created_row.owner == self.node_id:
                self._spawn(self._load(created_row.instance_id))
        self._route(delivered)
        if result.terminal:
            self._retire(instance_id)
        else:
            self._schedule(active)
        self._notify(instance_id, row)

    async def save_creation(self, active: Active) -> bool:
        """Make an instance's creation durable now, without its first turn; False: not created."""
        creation = active.creation
        if creation is None:
            return True
        if not creation.taken:
            creation.taken = True
            self._spawn(self._write_creation(active, creation))
        return await asyncio.shield(creation.saved)

    async def _write_creation(self, active: Active, creation: Creation) -> None:
        try:
            created = await self.store.write(creation.write)
        except TetherError as exc:
            self._drop_creation(active, exc)
            return
        if not created:
            self._drop_creation(active, _AlreadyActive(active.state.instance_id))
        elif active.creation is creation:
            active.creation = None
            creation.saved.set_result(True)

    def abandon_creation(self, active: Active) -> None:
        """Forget a creation nobody is committing (its caller went away); no-op otherwise."""
        creation = active.creation
        if creation is not None and not creation.taken:
            self._drop_creation(active, Unavailable("the start was abandoned"))

    def _drop_creation(self, active: Active, exc: TetherError) -> None:
        """The creation was refused or failed: the instance was never stored; forget it here."""
        creation = active.creation
        active.creation = None
        if self.active.get(active.state.instance_id) is active:
            self._retire(active.state.instance_id)
        if creation is not None and not creation.saved.done():
            if isinstance(exc, _AlreadyActive):
                creation.saved.set_result(False)
            else:
                creation.saved.set_exception(exc)
                creation.saved.exception()  # retrieved: the creator may have gone away

    def _create_child_tx(self, tx: Tx, child: Any, now: int) -> InstanceRow | MessageRow | None:
        """Create a child instance; on an ID clash, fail the parent's task instead."""
        started = child.started
        existing = tx.get_instance(child.instance_id)
        if existing is not None and existing.status not in pb.TERMINAL_STATUSES:
            parent_info = started.executionStarted.parentInstance
            same_parent = (
                child.parent_task_id is not None
                and existing.parent_instance_id == parent_info.workflowInstance.instanceId
                and existing.parent is not None
                and pb.ParentInstanceInfo.FromString(existing.parent).taskScheduledId
                == child.parent_task_id
            )
            if same_parent or child.parent_task_id is None:
                return None
            failed = pb.HistoryEvent(eventId=-1)
            failed.timestamp.CopyFrom(to_timestamp(now))
            failed.childWorkflowInstanceFailed.taskScheduledId = child.parent_task_id
            details = failed.childWorkflowInstanceFailed.failureDetails
            details.errorType = "WorkflowInstanceAlreadyExists"
            details.errorMessage = (
                f"an active workflow with ID '{child.instance_id}' already exists"
            )
            parent_id = parent_info.workflowInstance.instanceId
            return deliver_tx(
                tx,
                parent_id,
                failed,
                parent_info.workflowInstance.executionId.value,
                now,
            )
        if existing is not None:
            tx.delete_instance(child.instance_id)
        owner = self.node_id if child.app_id == self.app_id else None
        row = pending_row(started, child.app_id, owner, None)
        tx.upsert_instance(row)
        tx.add_messages(
            [
                MessageRow(
                    msg_id=new_msg_id(),
                    instance_id=child.instance_id,
                    app_id=child.app_id,
                    event=started.SerializeToString(),
                    visible_at=now,
                    execution_id=None,
                    order=now,
                )
            ]
        )
        return row

    def _route(self, messages: list[MessageRow]) -> None:
        """Hand committed inbox messages to the active instances they belong to."""
        for row in messages:
            active = self.active.get(row.instance_id)
            if active is not None and active.add_message(message_from_row(row)):
                self._schedule(active)

    def _retire(self, instance_id: str) -> None:
        active = self.active.pop(instance_id, None)
        if active is None:
            return
        for task in active.tasks.values():
            self.dispatcher.finish(task)
        if active.turn is not None:
            self.dispatcher.finish(active.turn)
        self.dispatcher.forget_instance(instance_id)

    # -- activities ----------------------------------------------------------------------------
    def _dispatch_task(self, task: TaskSpec) -> None:
        item = pb.WorkItem(activityRequest=task.request)

        def build(stream: WorkerStream) -> Any:
            item.completionToken = work.token
            return item

        work = Work(
            kind="activity",
            instance_id=task.instance_id,
            execution_id=task.execution_id,
            task_id=task.task_id,
            build=build,
        )
        active = self.active.get(task.instance_id)
        if active is not None:
            active.tasks[task.task_id] = work
        self.dispatcher.send(work)

    async def complete_activity(self, response: Any) -> None:
        work = self.dispatcher.tokens.get(response.completionToken)
        active = self.active.get(work.instance_id) if work is not None else None
        if (
            work is not None
            and work.kind == "activity"
            and active is not None
            and active.tasks.get(work.task_id) is work
            and active.creation is None
        ):
            await self._complete_known_activity(active, work, response)
            return
        execution_id: str | None
        if work is not None and work.kind == "activity":
            instance_id, execution_id, task_id = work.instance_id, work.execution_id, work.task_id
        else:
            # The token's bookkeeping is gone (its stream died, or tether restarted): the token
            # still names its execution, so a result of an older generation is never taken for
            # the current one's task with the same ID.
            instance_id, task_id = response.instanceId, response.taskId
            execution_id = token_execution(response.completionToken)
        now = now_ns()

        def commit(tx: Tx) -> MessageRow | None:
            route = tx.instance_route(instance_id)
            if route is None or route[1] in pb.TERMINAL_STATUSES:
                return None
            app_id, _, current_execution = route
            owner_execution = execution_id or current_execution
            if not tx.take_task(instance_id, owner_execution, task_id):
                return None
            event = task_result(now, task_id, response)
            return append_message(tx, instance_id, app_id, event, owner_execution, now)

        delivered = await self.store.write(commit)
        active = self.active.get(instance_id)
        if active is not None:
            done = active.tasks.pop(task_id, None)
            if done is not None:
                self.dispatcher.finish(done)
        if work is not None:
            self.dispatcher.finish(work)
        if delivered is not None:
            self._route([delivered])

    async def _complete_known_activity(self, active: Active, work: Work, response: Any) -> None:
        """The result of an activity this node dispatched to a live instance: it joins the inbox
        now, so the next turn starts while the result's own commit is on the way."""
        instance_id, task_id, execution_id = work.instance_id, work.task_id, work.execution_id
        now = now_ns()
        message = Message(
            msg_id=new_msg_id(),
            event=task_result(now, task_id, response),
            visible_at=now,
            execution_id=execution_id,
            order=now,
        )
        app_id = active.state.app_id
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        active.unsaved[message.msg_id] = stored
        active.tasks.pop(task_id, None)
        self.dispatcher.finish(work)
        active.add_message(message)
        self._schedule(active)

        def commit(tx: Tx) -> bool:
            if not tx.take_task(instance_id, execution_id, task_id):
                return False
            event = message.event
            append_message(tx, instance_id, app_id, event, execution_id, now, message.msg_id)
            return True

        ok = False
        try:
            ok = await self.store.write(commit)
        finally:
            active.unsaved.pop(message.msg_id, None)
            stored.set_result(ok)
            if not ok and self.active.get(instance_id) is active:
                self._reload(instance_id)

    # -- worker streams ------------------------------------------------------------------------
    def connect_worker(self, capabilities: list[int]) -> WorkerStream:
        self._require_running()
        return self.dispatcher.connect(capabilities)

    def disconnect_worker(self, stream: WorkerStream) -> None:
        for work in self.dispatcher.disconnect(stream):
            if work.kind == "turn":
                active = self.active.get(work.instance_id)
                if active is not None and active.turn is work and not active.committing:
                    active.turn = None
                    active.plan = None
                    self._schedule(active)
            else:
                self.dispatcher.send(work)

    def _on_worker_connect(self, stream: WorkerStream) -> None:
        # New code may have been deployed: give stalled instances another go.
        for active in self.active.values():
            if active.state.stall is not None:
                active.retry_stall = True
                self._schedule(active)

    # -- timers --------------------------------------------------------------------------------
    def _arm(self, when: int, instance_id: str) -> None:
        heapq.heappush(self._timer_heap, (when, instance_id))
        if self._timer_heap[0][0] == when:
            self._timer_wake.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timer_wake.clear()
            now = now_ns()
            while self._timer_heap and self._timer_heap[0][0] <= now:
                _, instance_id = heapq.heappop(self._timer_heap)
                active = self.active.get(instance_id)
                if active is not None:
                    self._schedule(active)
            timeout = None
            if self._timer_heap:
                timeout = max(0.0, (self._timer_heap[0][0] - now_ns()) / 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout)

    # -- waiting -------------------------------------------------------------------------------
    def _notify(self, instance_id: str, row: InstanceRow | None = None) -> None:
        """Wake the instance's waiters, handing them the just-committed row when there is one."""
        for fut in self._watchers.pop(instance_id, ()):
            if not fut.done():
                fut.set_result(row)

    async def get_instance(self, instance_id: str) -> InstanceRow | None:
        active = self.active.get(instance_id)
        if active is not None and not active.committing and active.creation is None:
            return row_from_state(active.state, self.node_id)
        return await self.store.read(lambda tx: tx.get_instance(instance_id), keyed=True)

    async def wait_for(
        self, instance_id: str, condition: Callable[[InstanceRow], bool], timeout: float | None
    ) -> InstanceRow | None:
        """Wait until the stored instance satisfies ``condition`` (or is gone); None if unknown."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        committed: InstanceRow | None = None
        while True:
            fut: asyncio.Future[InstanceRow | None] = loop.create_future()
            self._watchers.setdefault(instance_id, set()).add(fut)
            # A row handed over by a commit is used only if it already satisfies the condition;
            # otherwise read afresh (after registering), so no later commit can be missed.
            if committed is not None and condition(committed):
                row: InstanceRow | None = committed
            else:
                row = await self.get_instance(instance_id)
            if row is None or condition(row) or not self.running:
                self._watchers.get(instance_id, set()).discard(fut)
                return row
            remaining = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if remaining <= 0:
                self._watchers.get(instance_id, set()).discard(fut)
                return row
            try:
                committed = await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                committed = None
                self._watchers.get(instance_id, set()).discard(fut)


def _detached_done(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("a detached operation failed after its caller left: %s", task.exception())


def _has_terminate(state: InstanceState) -> bool:
    return not state.started and any(m.event.HasField("executionTerminated") for m in state.inbox)
