"""Operations inside one store transaction that the runtime and the management calls share."""

from __future__ import annotations

import socket
from typing import Any

from tether import pb
from tether.core.events import to_timestamp
from tether.engine.convert import (
    new_msg_id,
)
from tether.engine.nodes import pid_alive
from tether.engine.query import timer_name
from tether.errors import FailedPrecondition
from tether.store.base import InstanceRow, MessageRow, NodeRow, Reader, Tx


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


def purge_tree(tx: Reader, root: InstanceRow, recursive: bool) -> list[InstanceRow]:
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


def delete_timers_tx(tx: Tx, msg_ids: list[int]) -> list[MessageRow]:
    """Delete those of ``msg_ids`` that are still pending reminders; the rows deleted."""
    wanted = set(msg_ids)
    present = [m for m in tx.list_timers(None) if m.msg_id in wanted and timer_name(m)]
    tx.delete_messages([m.msg_id for m in present])
    return present


def restore_timers_tx(tx: Tx, rows: list[MessageRow]) -> tuple[list[MessageRow], list[str]]:
    """Insert reminders whose instance still waits for them; the rest are skipped, with why."""
    existing = {timer_name(m) for m in tx.list_timers(None)}
    added: list[MessageRow] = []
    skipped: list[str] = []
    for row in rows:
        name = timer_name(row) or f"workflow/{row.app_id}/{row.instance_id}/?"
        instance = tx.get_instance(row.instance_id)
        if name in existing:
            skipped.append(f"{name}: already scheduled, skipped")
        elif instance is None:
            skipped.append(f"{name}: workflow instance no longer exists, skipped")
        elif instance.status in pb.TERMINAL_STATUSES:
            status = pb.STATUS_NAMES[instance.status]
            skipped.append(f"{name}: workflow instance is {status}, skipped")
        elif row.execution_id and row.execution_id != instance.execution_id:
            skipped.append(f"{name}: belongs to an earlier execution of the instance, skipped")
        elif row.app_id != instance.app_id:
            skipped.append(f"{name}: the instance now runs in app {instance.app_id!r}, skipped")
        else:
            added.append(row)
            existing.add(name)
    tx.add_messages(added)
    return added, skipped


def live_owner(row: InstanceRow, nodes: list[NodeRow], store_now: int) -> NodeRow | None:
    """The live node running ``row``, or None when nobody does.

    The one place that decides whether an instance's owner is live: a node runs an instance
    while it is not terminal and owned by it, and the node's lease (judged by the store's clock)
    has not expired. A node of this host whose process is gone writes nothing more, so it no
    longer counts even before its lease runs out.
    """
    if row.owner is None or row.status in pb.TERMINAL_STATUSES:
        return None
    node = next((n for n in nodes if n.node_id == row.owner), None)
    if node is None or node.lease_expires <= store_now:
        return None
    if node.host == socket.gethostname() and not pid_alive(node.pid):
        return None
    return node


def refuse_live_purge(tx: Reader, tree: list[InstanceRow], here: str) -> None:
    """Refuse to delete an instance that another live node runs: only that node may (it would
    otherwise go on running it from memory)."""
    nodes, now = tx.list_nodes(), tx.store_now()
    for member in tree:
        owner = live_owner(member, nodes, now)
        if owner is None or owner.node_id == here:
            continue
        status = pb.STATUS_NAMES.get(member.status, "UNKNOWN")
        raise FailedPrecondition(
            f"workflow '{member.instance_id}' is {status} on a live tether of app "
            f"'{owner.app_id}' (pid {owner.pid} on {owner.host}); purging it here would leave "
            f"that tether running it: purge it through that tether (`--app-id {owner.app_id}`), "
            "or stop it first"
        )
