"""Turns of the instances this node owns: planning, sending to a worker, committing.

A change is computed by the pure core, committed through the store (fenced on the instance's
lease), and only then applied to memory and made visible (work pushed to workers, waiters
woken). A start waiting for its first turn commits its creation with that turn (see
:class:`~tether.engine.instances.Creation`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tether import pb
from tether.core import propagation
from tether.core.commit import apply_result, next_meta, restart_messages
from tether.core.events import to_timestamp
from tether.core.state import Message, TaskSpec
from tether.core.turns import TurnPlan, TurnResult, apply_response, force_terminate, plan_turn
from tether.engine.convert import (
    message_from_row,
    message_row,
    new_msg_id,
    now_ns,
    row_with_meta,
    state_from_rows,
)
from tether.engine.creations import Creations
from tether.engine.dispatch import Work, WorkerStream
from tether.engine.instances import Active, AlreadyActive, Rider, has_terminate
from tether.engine.txops import deliver_tx
from tether.errors import LeaseLost, StoreError, TetherError
from tether.store.base import InstanceRow, MessageRow, Reader, TaskRow, Tx

log = logging.getLogger(__name__)


class Turns(Creations):
    # -- loading and forgetting ----------------------------------------------------------------
    async def load(self, instance_id: str, *, reload: bool = False) -> Active | None:
        """Load an instance this node owns; with ``reload``, also send its activity tasks this
        node owns again (their work items were dropped with the old memory)."""

        def read(tx: Reader) -> tuple[InstanceRow | None, list[bytes], list[MessageRow], Any]:
            row = tx.get_instance(instance_id)
            if row is None:
                return None, [], [], []
            tasks = tx.load_tasks(instance_id) if reload else []
            return row, tx.load_history(instance_id), tx.load_messages(instance_id), tasks

        row, history, messages, tasks = await self.store.read(read)
        if row is None or row.status in pb.TERMINAL_STATUSES or row.owner != self.node_id:
            return None
        if instance_id in self.active:
            return self.active[instance_id]
        active = Active(state=state_from_rows(row, history, messages), epoch=row.epoch)
        self.active[instance_id] = active
        for task in tasks:
            if task.owner == self.node_id and task.app_id == self.app_id:
                self.dispatch_task(task_spec(task))
        self.schedule(active)
        return active

    def retire(self, instance_id: str) -> None:
        active = self.active.pop(instance_id, None)
        if active is None:
            return
        active.unseat()  # results waiting for a turn of this memory: written on their own
        for task in active.tasks.values():
            self.dispatcher.finish(task)
        if active.turn is not None:
            self.dispatcher.finish(active.turn)
        self.dispatcher.forget_instance(instance_id)

    def route(self, messages: list[MessageRow]) -> None:
        """Hand committed inbox messages to the active instances they belong to."""
        for row in messages:
            active = self.active.get(row.instance_id)
            if active is not None and active.add_message(message_from_row(row)):
                self.schedule(active)

    # -- planning ------------------------------------------------------------------------------
    def schedule(self, active: Active) -> None:
        """Start the instance's next turn if it has deliverable messages and none in flight."""
        if active.turn is not None and active.turn.stream is None and not active.committing:
            # The turn is parked until a worker connects and no worker has seen it: withdraw it
            # and plan afresh, so what arrived since (e.g. a terminate) is part of the turn.
            self.dispatcher.finish(active.turn)
            active.end_turn()
        if not self.running or active.turn is not None or active.committing:
            return
        if not self.nodes.valid():
            return  # this node's lease may be lapsing: act on nothing until it is renewed
        state = active.state
        if state.terminal:
            return
        stalled = state.stall is not None and not active.retry_stall
        if stalled and not any(m.event.HasField("executionTerminated") for m in state.inbox):
            return  # a stalled instance waits for new code, but can always be terminated
        now = now_ns()
        plan = plan_turn(state, now, force_start=has_terminate(state))
        if plan is None:
            upcoming = [m.visible_at for m in state.inbox if m.visible_at > now]
            if upcoming:
                self.arm(min(upcoming), state.instance_id)
            return
        active.retry_stall = False
        if not plan.new_events:
            active.begin_commit()
            self.spawn(self._commit_drops(active, plan.dropped))
            return
        if plan.delivers_terminate is not None and (
            stalled or not self.dispatcher.connected or not state.started
        ):
            active.begin_commit()
            self.spawn(self._commit_turn(active, plan, force_terminate(state, plan, now), now))
            return
        size = state.history_size + sum(e.ByteSize() for e in plan.new_events)
        if size > self.settings.max_payload_bytes:
            active.begin_commit()
            self.spawn(self._stall_oversized(active, plan, size, now))
            return
        work = Work(
            kind="turn",
            instance_id=state.instance_id,
            execution_id=state.execution_id,
            build=lambda stream: self._turn_item(active, stream),
        )
        active.start_turn(plan, work)
        self.dispatcher.send(work)

    def _turn_item(self, active: Active, stream: WorkerStream) -> Any:
        state = active.state
        plan = active.plan
        assert plan is not None and active.turn is not None
        # Filled in place: a request passed to the WorkItem constructor would be copied whole.
        item = pb.WorkItem(completionToken=active.turn.token)
        request = item.workflowRequest
        request.instanceId = state.instance_id
        request.executionId.value = state.execution_id
        past = state.history
        cached = stream.warm.get(state.instance_id, 0) if stream.stateful else 0
        if 0 < cached <= len(past):
            request.pastEvents.extend(past[cached:])
            request.cachedHistory.eventCount = cached
        else:
            request.pastEvents.extend(past)
        request.newEvents.extend(plan.new_events)
        propagation.hand_over(request, past, plan.new_events)
        if stream.stateful:
            stream.warm[state.instance_id] = len(past)
        return item

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
        result = apply_response(
            active.state, active.plan, response, now, payload_limit=self.settings.max_payload_bytes
        )
        active.begin_commit()
        await self._commit_turn(active, active.plan, result, now)

    # -- committing ----------------------------------------------------------------------------
    async def _stored(self, active: Active, msg_ids: list[int]) -> bool:
        """Wait until the messages a commit is about to consume are stored themselves, except
        riders, which the commit carries (the caller boards them before it next waits, so a
        rider that gives up meanwhile, and writes itself, is waited for here instead). False
        when a message could not be stored (the instance is being reloaded: drop the commit)."""
        while True:
            riders = active.riders
            pending = [
                active.unsaved[m] for m in msg_ids if m in active.unsaved and m not in riders
            ]
            if not pending:
                # A write of its messages that failed meanwhile retired this memory.
                return self.active.get(active.state.instance_id) is active
            for outcome in pending:
                if not await asyncio.shield(outcome):
                    return False

    def _failed(self, active: Active, exc: BaseException) -> None:
        """A commit of ``active`` failed for good: memory may be ahead of the store."""
        instance_id = active.state.instance_id
        if self.active.get(instance_id) is not active:
            return
        if isinstance(exc, LeaseLost):
            self.lease_lost(instance_id, exc)
        else:
            self.recover(instance_id, exc)

    async def _commit_drops(self, active: Active, dropped: list[int]) -> None:
        instance_id, epoch, node_id = active.state.instance_id, active.epoch, self.node_id

        with active.commit_phase():
            if not await self._stored(active, dropped):
                return
            riders = active.board(dropped)
            stale = _stored_ids(dropped, riders)

            def commit(tx: Tx) -> None:
                tx.fence(instance_id, node_id, epoch)
                for rider in riders:
                    rider.take(tx)
                tx.delete_messages(stale)

            try:
                await self.write(commit, f"dropping stale messages of {instance_id!r}")
            except BaseException as exc:
                _settle(riders, None)
                if not isinstance(exc, Exception):
                    raise
                self._failed(active, exc)
                if not isinstance(exc, TetherError):
                    raise
                return
            _settle(riders, True)
            active.remove_messages(dropped)
        self.schedule(active)

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
        with active.commit_phase():
            done = await self._write_turn(active, plan, result, now)
        if done is not None:
            self._after_turn(active, result, *done)

    async def _write_turn(
        self, active: Active, plan: TurnPlan, result: TurnResult, now: int
    ) -> tuple[list[MessageRow], list[InstanceRow], InstanceRow] | None:
        """Commit the turn and fold it into memory; None if it was not committed."""
        state = active.state
        instance_id = state.instance_id
        creation = active.creation
        if creation is not None and creation.taken:
            # The creation is being committed on its own (the turn came late): wait for it.
            try:
                if not await asyncio.shield(creation.saved):
                    return None
            except TetherError:
                return None  # the creation failed; its creator was told
            creation = None
        removed = [*result.consumed, *plan.dropped]
        if not await self._stored(active, removed):
            return None
        # No waiting from here until the write is queued (the riders are boarded just before).
        if creation is not None:
            creation.taken = True
        self.observer.turn_prepared(state, result)
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
        node_id, epoch = self.node_id, active.epoch
        row = row_with_meta(state, meta, node_id)
        row.epoch = epoch
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
                owner=node_id if t.app_id == self.app_id else None,
            )
            for t in result.tasks
        ]
        old_execution = state.execution_id

        def commit(tx: Tx) -> tuple[list[MessageRow], list[InstanceRow]]:
            fenced = epoch
            if creation is not None:
                if not creation.write(tx):
                    raise AlreadyActive(instance_id)
                fenced = row.epoch = creation.row.epoch
            tx.fence(instance_id, node_id, fenced)
            for rider in riders:
                rider.take(tx)
            tx.delete_messages(stored_removed)
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
                outcome = self.create_child_tx(tx, child, now)
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

        riders = active.board(removed)  # settled below, whatever happens
        stored_removed = _stored_ids(removed, riders)
        try:
            delivered, created = await self.write(commit, f"committing a turn of {instance_id!r}")
        except BaseException as exc:  # whatever failed, memory must not stay half-way
            _settle(riders, None)  # the results write themselves; their task rows decide
            if not isinstance(exc, Exception):
                raise
            active.end_turn()
            if creation is not None:
                self._drop_creation(active, as_tether_error(exc))
            else:
                self._failed(active, exc)
            if not isinstance(exc, TetherError):
                raise
            return None

        # Durable: now memory and the outside world may see it.
        _settle(riders, True)
        self.observer.turn_committed(state, plan, result)
        if creation is not None:
            active.created(creation.row.epoch)
            creation.saved.set_result(True)
        active.remember_gone(removed)
        apply_result(state, plan, result, meta, restart)
        if result.continue_as_new is not None:
            for outstanding in active.tasks.values():
                self.dispatcher.finish(outstanding)
            active.tasks.clear()
            self.dispatcher.forget_instance(instance_id)
        active.end_turn()
        return delivered, created, row

    def _after_turn(
        self,
        active: Active,
        result: TurnResult,
        delivered: list[MessageRow],
        created: list[InstanceRow],
        row: InstanceRow,
    ) -> None:
        instance_id = active.state.instance_id
        for task in result.tasks:
            if task.app_id == self.app_id and not result.terminal:
                self.dispatch_task(task)
        for created_row in created:
            if created_row.owner == self.node_id:
                self.spawn(self.load(created_row.instance_id))
        self.route(delivered)
        if result.terminal:
            self.retire(instance_id)
        else:
            self.schedule(active)
        self.notify(instance_id, row)


def _stored_ids(msg_ids: list[int], riders: list[Rider]) -> list[int]:
    """The messages among ``msg_ids`` that have inbox rows (riders never get one)."""
    if not riders:
        return msg_ids
    carried = {r.msg_id for r in riders}
    return [m for m in msg_ids if m not in carried]


def _settle(riders: list[Rider], carried: bool | None) -> None:
    for rider in riders:
        rider.settle(carried)


def as_tether_error(exc: BaseException) -> TetherError:
    if isinstance(exc, TetherError):
        return exc
    error = StoreError(f"an unexpected error: {exc!r}")
    error.__cause__ = exc
    return error


def task_spec(row: TaskRow) -> TaskSpec:
    return TaskSpec(
        instance_id=row.instance_id,
        execution_id=row.execution_id,
        task_id=row.task_id,
        app_id=row.app_id,
        request=pb.ActivityRequest.FromString(row.request),
    )
