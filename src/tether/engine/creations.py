"""Creating instances inside an owner's work: a start whose creation rides on its first turn
(see :class:`~tether.engine.instances.Creation`), stored on its own when that turn is slow, and
child workflows created in their parent's turn commit."""

from __future__ import annotations

import asyncio
from typing import Any

from tether import pb
from tether.core.events import to_timestamp
from tether.engine.convert import new_msg_id, pending_row
from tether.engine.host import Host
from tether.engine.instances import Active, AlreadyActive, Creation
from tether.engine.txops import deliver_tx
from tether.errors import TetherError, Unavailable
from tether.store.base import InstanceRow, MessageRow, Tx


class Creations(Host):
    async def save_creation(self, active: Active) -> bool:
        """Make an instance's creation durable now, without its first turn; False: not created."""
        creation = active.creation
        if creation is None:
            return True
        if not creation.taken:
            creation.taken = True
            self.spawn(self._write_creation(active, creation))
        return await asyncio.shield(creation.saved)

    async def _write_creation(self, active: Active, creation: Creation) -> None:
        try:
            created = await self.write(creation.write, "storing a start")
        except TetherError as exc:
            self._drop_creation(active, exc)
            return
        if not created:
            self._drop_creation(active, AlreadyActive(active.state.instance_id))
        elif active.creation is creation:
            active.created(creation.row.epoch)
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
            self.retire(active.state.instance_id)
        if creation is not None and not creation.saved.done():
            if isinstance(exc, AlreadyActive):
                creation.saved.set_result(False)
            else:
                creation.saved.set_exception(exc)
                creation.saved.exception()  # retrieved: the creator may have gone away

    def create_child_tx(self, tx: Tx, child: Any, now: int) -> InstanceRow | MessageRow | None:
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
        row.epoch = existing.epoch + 1 if existing is not None else 1
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
