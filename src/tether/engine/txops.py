"""Operations inside one store transaction that the runtime and the management calls share."""

from __future__ import annotations

from typing import Any

from tether import pb
from tether.core.events import to_timestamp
from tether.engine.convert import (
    new_msg_id,
)
from tether.errors import FailedPrecondition
from tether.store.base import InstanceRow, MessageRow, Reader, Tx


def load_messages(tx: Reader, instance_id: str) -> list[MessageRow]:
    return tx.load_messages(instance_id)


def deliver_tx(
    tx: Tx,
    instance_id: str,
    event: Any,
    execution_id: str | None,
    now: int,
) -> MessageRow | None:
    """Append an event to a live instance's inbox inside ``tx``; None if it would be dropped."""
    route = tx.instance_route(instance_id)
    if route is None or route[1] in pb.TERMINAL_STATUSES:
        return None
    app_id, _, current_execution = route
    if execution_id and current_execution != execution_id:
        return None
    return append_message(tx, instance_id, app_id, event, execution_id, now)


def append_message(
    tx: Tx,
    instance_id: str,
    app_id: str,
    event: Any,
    execution_id: str | None,
    now: int,
    msg_id: int | None = None,
) -> MessageRow:
    """Append an event to an instance's inbox, visible at once (stamped now if it has no time).

    "At once" is stored as visible_at 0, not this host's time: the owner may run elsewhere, on a
    clock behind this one, and must not see the message late.
    """
    if event.timestamp.seconds == 0 and event.timestamp.nanos == 0:
        event = stamped(event, now)
    message = MessageRow(
        msg_id=msg_id or new_msg_id(),
        instance_id=instance_id,
        app_id=app_id,
        event=event.SerializeToString(),
        visible_at=0,
        execution_id=execution_id,
        order=now,
    )
    tx.add_messages([message])
    return message


def stamped(event: Any, now: int) -> Any:
    copy = pb.HistoryEvent()
    copy.CopyFrom(event)
    copy.timestamp.CopyFrom(to_timestamp(now))
    return copy


def purge_tree(tx: Tx, root: InstanceRow, recursive: bool) -> list[InstanceRow]:
    """The instance and (when recursive) every descendant that still exists, children first."""
    order: list[InstanceRow] = []
    seen: set[str] = set()

    def visit(row: InstanceRow) -> None:
        if row.instance_id in seen:
            return
        seen.add(row.instance_id)
        if recursive:
            for raw in tx.load_history(row.instance_id):
                event = pb.HistoryEvent.FromString(raw)
                if event.HasField("childWorkflowInstanceCreated"):
                    child = tx.get_instance(event.childWorkflowInstanceCreated.instanceId)
                    if child is not None:
                        visit(child)
        order.append(row)

    visit(root)
    return order


def check_purgeable(row: InstanceRow, force: bool) -> None:
    if force or row.status in pb.TERMINAL_STATUSES:
        return
    if row.status == pb.STALLED:
        raise FailedPrecondition(
            f"workflow is stalled: '{row.instance_id}' (use force to purge it)"
        )
    raise FailedPrecondition(
        f"orchestration has not yet completed: '{row.instance_id}' is "
        f"{pb.STATUS_NAMES[row.status]}; "
        "only COMPLETED, FAILED or TERMINATED instances can be purged"
    )
