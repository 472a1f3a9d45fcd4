"""The engine's public face: the management operations behind the gRPC, HTTP and CLI front doors.

The turn machinery lives in :mod:`tether.engine.runtime`; this module adds what clients ask for
(start, query, wait, raise, suspend/resume, terminate, purge, rerun, list, history).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable
from typing import Any

from tether import pb
from tether.core.events import from_timestamp
from tether.core.rerun import RerunRequest, check_request, check_source, check_target_free, fork
from tether.core.state import InstanceState
from tether.core.turns import (
    TurnResult,
    build_execution_started,
    child_for,
    task_for,
    timer_for,
)
from tether.engine.convert import (
    message_row,
    new_msg_id,
    now_ns,
    pending_row,
    row_from_state,
    state_from_rows,
)
from tether.engine.instances import Active, Creation
from tether.engine.query import Query
from tether.engine.runtime import Runtime
from tether.engine.txops import (
    check_purgeable,
    delete_timers_tx,
    deliver_tx,
    purge_tree,
    refuse_live_purge,
    restore_timers_tx,
)
from tether.errors import AlreadyExists, FailedPrecondition, NotFound, TetherError
from tether.store.base import InstanceRow, MessageRow, Reader, TaskRow, Tx
from tether.telemetry import observed

NO_SUCH_INSTANCE = "no such instance exists"


class Engine(Runtime):
    # -- management ----------------------------------------------------------------------------
    @observed("create_workflow")
    async def create_instance(
        self,
        name: str,
        instance_id: str,
        input_value: str | None,
        *,
        scheduled_start: Any | None = None,
        enforce_unique: bool = False,
        tags: dict[str, str] | None = None,
        trace: Any | None = None,
        version: str | None = None,
        app_id: str | None = None,
        wait: bool = True,
    ) -> str:
        self.require_running()
        target = app_id or self.app_id
        now = now_ns()
        instance_id = instance_id or str(uuid.uuid4())
        started = build_execution_started(
            now,
            name,
            instance_id,
            input_value,
            source_app=self.app_id,
            scheduled_start=scheduled_start,
            tags=tags,
            trace=trace,
            version=version,
        )
        scheduled_ns = from_timestamp(scheduled_start) if scheduled_start is not None else None
        owner = self.node_id if target == self.app_id else None
        row = pending_row(started, target, owner, scheduled_ns)
        message = MessageRow(
            msg_id=new_msg_id(),
            instance_id=instance_id,
            app_id=target,
            event=started.SerializeToString(),
            visible_at=max(now, scheduled_ns or now),
            execution_id=None,
            order=now,
        )

        refuse_running = enforce_unique or self.settings.refuse_duplicate_start

        def commit(tx: Tx) -> bool:
            existing = tx.get_instance(instance_id)
            if existing is not None:
                if existing.status not in pb.TERMINAL_STATUSES:
                    if refuse_running or existing.name != name:
                        raise AlreadyExists(
                            f"an active workflow with ID '{instance_id}' already exists "
                            f"(workflow {existing.name!r}, "
                            f"status {pb.STATUS_NAMES[existing.status]})"
                        )
                    return False
                if enforce_unique:
                    raise AlreadyExists(
                        f"a workflow with ID '{instance_id}' already exists "
                        "and unique IDs were requested"
                    )
                tx.delete_instance(instance_id)
            # The epoch keeps growing across re-creations of one ID, so no writer fenced on
            # an earlier incarnation can match this one.
            row.epoch = existing.epoch + 1 if existing is not None else 1
            tx.upsert_instance(row)
            tx.add_messages([message])
            return True

        earlier = self.active.get(instance_id)
        if earlier is not None and earlier.creation is not None:
            # Starts of one ID are taken in turn: this one is decided against the stored outcome.
            with contextlib.suppress(TetherError):
                await asyncio.shield(earlier.creation.saved)
        waits = (
            wait
            and scheduled_start is None
            and owner is not None
            and self.settings.start_wait_seconds > 0
        )
        if waits and self.dispatcher.connected and instance_id not in self.active:
            # The caller waits for the first turn anyway: run it now and store the creation with
            # it, one commit instead of two.
            await self._create_with_first_turn(row, message, commit)
            return instance_id
        created = await self.detached(self._create(row, message, commit))
        if created and waits and self.dispatcher.connected:
            await self.wait_for(
                instance_id, lambda r: r.status != pb.PENDING, self.settings.start_wait_seconds
            )
        return instance_id

    async def _create(
        self, row: InstanceRow, message: MessageRow, write: Callable[[Tx], bool]
    ) -> bool:
        created = await self.write(write, f"storing a start of {row.instance_id!r}")
        if created:
            # Only a replaced (terminal) instance is retired: an idempotent start of an active
            # one must leave it running here.
            self.retire(row.instance_id)
        if created and row.owner is not None:
            active = Active(state=state_from_rows(row, [], [message]), epoch=row.epoch)
            self.active[row.instance_id] = active
            self.schedule(active)
        return created

    async def _create_with_first_turn(
        self, row: InstanceRow, message: MessageRow, write: Callable[[Tx], bool]
    ) -> None:
        saved: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        active = Active(
            state=state_from_rows(row, [], [message]),
            epoch=0,  # decided by the creation's write
            creation=Creation(write, saved, row),
        )
        self.active[row.instance_id] = active
        try:
            self.schedule(active)
            try:
                await asyncio.wait_for(asyncio.shield(saved), self.settings.start_wait_seconds)
            except TimeoutError:
                # The first turn is slow (a busy or absent worker): store the creation alone.
                await self.save_creation(active)
        finally:
            self.abandon_creation(active)

    async def _enqueue(self, instance_id: str, event: Any, *, refuse_stalled: bool = False) -> bool:
        """Append ``event`` to an instance's inbox; False when the instance is terminal."""
        now = now_ns()

        def commit(tx: Tx) -> MessageRow | None:
            row = tx.get_instance(instance_id)
            if row is None:
                raise NotFound(NO_SUCH_INSTANCE + f": '{instance_id}'")
            if row.status in pb.TERMINAL_STATUSES:
                return None
            if refuse_stalled and row.status == pb.STALLED:
                raise FailedPrecondition(f"workflow is stalled: '{instance_id}'")
            return deliver_tx(tx, instance_id, event, None, now)

        message = await self.write(commit, "a management change")
        if message is None:
            return False
        self.route([message])
        return True

    @observed("add_event")
    async def raise_event(self, instance_id: str, name: str, data: str | None) -> None:
        event = pb.HistoryEvent(eventId=-1)
        event.eventRaised.name = name
        if data is not None:
            event.eventRaised.input.value = data
        await self._enqueue(instance_id, event, refuse_stalled=True)

    async def terminate(
        self, instance_id: str, output: str | None, recursive: bool, wait: bool = True
    ) -> None:
        event = pb.HistoryEvent(eventId=-1)
        event.executionTerminated.recurse = recursive
        if output is not None:
            event.executionTerminated.input.value = output
        if not await self._enqueue(instance_id, event):
            if recursive:
                await self._cascade_terminal(instance_id, output)
            return
        if wait:
            await self.wait_for(
                instance_id,
                lambda r: r.status in pb.TERMINAL_STATUSES,
                self.settings.control_wait_seconds,
            )

    async def _cascade_terminal(self, instance_id: str, output: str | None) -> None:
        """A recursive terminate of a terminal instance still reaches its live children."""
        history = await self.store.read(lambda tx: tx.load_history(instance_id))
        children: list[str] = []
        for raw in history:
            event = pb.HistoryEvent.FromString(raw)
            if event.HasField("childWorkflowInstanceCreated"):
                children.append(event.childWorkflowInstanceCreated.instanceId)
        for child in dict.fromkeys(children):
            with contextlib.suppress(NotFound):
                await self.terminate(child, output, True, wait=False)

    async def suspend(self, instance_id: str, reason: str | None, wait: bool = True) -> None:
        row = await self.get_instance(instance_id)
        if row is None:
            raise NotFound(NO_SUCH_INSTANCE + f": '{instance_id}'")
        active = self.active.get(instance_id)
        already = active.state.suspended_after_inbox() if active else row.status == pb.SUSPENDED
        if already or row.status in pb.TERMINAL_STATUSES:
            return
        event = pb.HistoryEvent(eventId=-1)
        event.executionSuspended.SetInParent()
        if reason:
            event.executionSuspended.input.value = reason
        if await self._enqueue(instance_id, event) and wait and row.status != pb.PENDING:
            await self.wait_for(
                instance_id,
                lambda r: r.status in (pb.SUSPENDED, *pb.TERMINAL_STATUSES),
                self.settings.control_wait_seconds,
            )

    async def resume(self, instance_id: str, reason: str | None, wait: bool = True) -> None:
        row = await self.get_instance(instance_id)
        if row is None:
            raise NotFound(NO_SUCH_INSTANCE + f": '{instance_id}'")
        active = self.active.get(instance_id)
        suspended = active.state.suspended_after_inbox() if active else row.status == pb.SUSPENDED
        if not suspended or row.status in pb.TERMINAL_STATUSES:
            return
        event = pb.HistoryEvent(eventId=-1)
        event.executionResumed.SetInParent()
        if reason:
            event.executionResumed.input.value = reason
        if await self._enqueue(instance_id, event) and wait and row.status != pb.PENDING:
            await self.wait_for(
                instance_id,
                lambda r: r.status != pb.SUSPENDED,
                self.settings.control_wait_seconds,
            )

    @observed("purge_workflow")
    async def purge(self, instance_id: str, recursive: bool, force: bool = False) -> int:
        def commit(tx: Tx) -> list[str]:
            row = tx.get_instance(instance_id)
            if row is None:
                raise NotFound(NO_SUCH_INSTANCE + f": '{instance_id}'")
            tree = purge_tree(tx, row, recursive)
            for member in tree:
                check_purgeable(member, force)
            if force:
                refuse_live_purge(tx, tree, self.node_id)
            for member in tree:
                tx.delete_instance(member.instance_id)
            return [m.instance_id for m in tree]

        purged = await self.write(commit, "a management change")
        for purged_id in purged:
            self.retire(purged_id)
            self.notify(purged_id)
        return len(purged)

    async def purge_where(
        self,
        created_from: int | None,
        created_to: int | None,
        statuses: list[int] | None,
        recursive: bool,
        force: bool = False,
    ) -> int:
        from tether.store.base import InstanceFilter

        wanted = statuses or sorted(pb.TERMINAL_STATUSES)
        if not force:
            wanted = [s for s in wanted if s in pb.TERMINAL_STATUSES]
        rows = await self.store.read(
            lambda tx: tx.list_instances(
                InstanceFilter(
                    app_id=self.app_id,
                    statuses=wanted,
                    created_from=created_from,
                    created_to=created_to,
                )
            )
        )
        count = 0
        for row in rows:
            # Each tree is checked and deleted atomically; one whose descendants still run is
            # left for a later purge instead of aborting the whole batch.
            with contextlib.suppress(NotFound, FailedPrecondition):
                count += await self.purge(row.instance_id, recursive, force)
        return count

    async def rerun(self, req: RerunRequest) -> str:
        """Start a new instance from a terminal one's history, re-running from one event."""
        self.require_running()
        check_request(req)
        new_id = req.new_instance_id or str(uuid.uuid4())

        def read(tx: Reader) -> tuple[InstanceRow | None, list[bytes], bool]:
            source = tx.get_instance(req.source_instance_id)
            history = tx.load_history(req.source_instance_id) if source is not None else []
            return source, history, tx.get_instance(new_id) is not None

        source, raw_history, taken = await self.store.read(read)
        check_source(
            req,
            source is not None,
            source.status if source else 0,
            bool(source and source.parent_instance_id),
        )
        assert source is not None
        check_target_free(new_id, taken)
        now = now_ns()
        forked = fork([pb.HistoryEvent.FromString(b) for b in raw_history], req, new_id, now)
        execution_id = uuid.uuid4().hex
        for event in forked.history:
            if event.HasField("executionStarted"):
                started = event.executionStarted
                started.workflowInstance.executionId.value = execution_id
                # A new execution: it joins the rerun caller's trace (or starts its own), not
                # the source's.
                started.ClearField("parentTraceContext")
                if req.trace is not None:
                    started.parentTraceContext.CopyFrom(req.trace)
        state = InstanceState(
            instance_id=new_id, app_id=source.app_id, name=source.name, execution_id=execution_id
        )
        state.append_history(forked.history)
        state.status = pb.SUSPENDED if state.suspended else pb.RUNNING
        state.updated_at = now
        state.tags = dict(source.tags)
        tasks = [task_for(state, e) for e in forked.pending if e.HasField("taskScheduled")]
        timers = [
            t for e in forked.pending if e.HasField("timerCreated") if (t := timer_for(state, e))
        ]
        children = [
            child_for(state, e, now)
            for e in forked.pending
            if e.HasField("childWorkflowInstanceCreated")
        ]
        for timer in timers:
            timer.msg_id = new_msg_id()
            timer.order = now
        # The fork is the new execution's first turn: what it dispatches carries its trace.
        self.observer.turn_prepared(state, TurnResult(tasks=tasks, children=children))
        owner = self.node_id if source.app_id == self.app_id else None
        row = row_from_state(state, owner)
        row.epoch = 1
        history_bytes = [e.SerializeToString() for e in forked.history]

        def commit(tx: Tx) -> list[InstanceRow]:
            check_target_free(new_id, tx.get_instance(new_id) is not None)
            tx.upsert_instance(row)
            tx.append_history(new_id, 0, history_bytes)
            tx.add_tasks(
                [
                    TaskRow(
                        instance_id=new_id,
                        execution_id=execution_id,
                        task_id=t.task_id,
                        app_id=t.app_id,
                        request=t.request.SerializeToString(),
                        created_at=now,
                        owner=self.node_id if t.app_id == self.app_id else None,
                    )
                    for t in tasks
                ]
            )
            tx.add_messages([message_row(m, new_id, source.app_id) for m in timers])
            created: list[InstanceRow] = []
            for child in children:
                outcome = self.create_child_tx(tx, child, now)
                if isinstance(outcome, InstanceRow):
                    created.append(outcome)
            return created

        created = await self.write(commit, "a management change")
        if owner is not None:
            state.inbox = list(timers)
            active = Active(state=state, epoch=row.epoch)
            self.active[new_id] = active
            for task in tasks:
                if task.app_id == self.app_id:
                    self.dispatch_task(task)
            self.schedule(active)
        for created_row in created:
            if created_row.owner == self.node_id:
                self.spawn(self.load(created_row.instance_id))
        return new_id

    async def delete_timers(self, msg_ids: list[int]) -> list[MessageRow]:
        """Delete pending reminders (durable timers, scheduled starts); the rows deleted."""
        deleted = await self.write(lambda tx: delete_timers_tx(tx, msg_ids), "deleting reminders")
        # Instances run here re-read their inbox, which no longer holds the deleted rows (the
        # change feed tells only other processes).
        for instance_id in {row.instance_id for row in deleted}:
            if instance_id in self.active:
                await self.refresh(instance_id)
        return deleted

    async def restore_timers(self, rows: list[MessageRow]) -> tuple[int, list[str]]:
        """Add reminders back (an import); those whose instance no longer waits are skipped."""
        added, skipped = await self.write(
            lambda tx: restore_timers_tx(tx, rows), "adding reminders"
        )
        self.route(added)
        return len(added), skipped

    @functools.cached_property
    def query(self) -> Query:
        """The read model over this engine's store; single reads answered from memory."""
        return Query(self.store, self.get_instance)

    async def list_instance_ids(
        self, after: str | None, page_size: int | None
    ) -> tuple[list[str], str | None]:
        return await self.query.instance_ids(self.app_id, after, page_size)

    async def history(self, instance_id: str) -> list[bytes]:
        return await self.query.raw_history(instance_id)
