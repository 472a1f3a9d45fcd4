"""History propagation (``propagation=PropagationScope.OWN_HISTORY | LINEAGE``), as durabletask-go
does it (``backend/runtimestate/propagation.go``).

When a workflow schedules an activity or a child workflow with a scope, the callee receives a
``PropagatedHistory``: one chunk with the caller's own events so far (this execution's history up
to and including the scheduling event), and with ``LINEAGE`` first the chunks the caller itself
received. An activity gets it on its ``ActivityRequest`` (stored in the task row with the rest of
the request); a child workflow gets it on every ``WorkflowRequest`` of its execution.

A child's received history is kept with the execution it belongs to: inside the child's
``executionStarted`` event, in a field number the protocol does not use, so it survives storage,
recovery and rerun unchanged without a column of its own; a continue-as-new carries the chain on
(with the scope it was received with, as durabletask-go does). Work items carry it once, in
``propagatedHistory``: :func:`hand_over` takes it out of the start event they send. Clients that
read the stored history skip the unknown field.

A callee's work item must fit in the payload limit with what it is handed; when it would not, the
call fails at once with a non-retriable ``PropagatedHistoryTooLarge`` failure the caller can catch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from tether import pb

# Field number of the received PropagatedHistory inside ExecutionStartedEvent (unused by the
# protocol, far above its fields so a future one does not collide).
RECEIVED_FIELD = 8191
_WIRE_LENGTH_DELIMITED = 2

_unknown_fields: Any = __import__("google.protobuf.unknown_fields", fromlist=["UnknownFieldSet"])


class PropagationTooLarge(Exception):
    """The history to propagate does not fit in one work item."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size
        self.limit = limit


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def received(events: Iterable[Any]) -> Any | None:
    """The PropagatedHistory the execution whose events these are was started with, or None.

    The ``executionStarted`` event is among the first two of an execution; the scan stops there."""
    for event in events:
        if event.HasField("executionStarted"):
            return _read(event.executionStarted)
    return None


def _read(started: Any) -> Any | None:
    for item in _unknown_fields.UnknownFieldSet(started):
        if item.field_number == RECEIVED_FIELD and item.wire_type == _WIRE_LENGTH_DELIMITED:
            return pb.PropagatedHistory.FromString(item.data)
    return None


def hand_over(request: Any, past: Iterable[Any], new: Iterable[Any]) -> None:
    """Give a WorkflowRequest what its execution received (read from the execution's ``past`` and
    ``new`` events) and take it out of the start event the request itself carries."""
    incoming = received(itertools.chain(past, new))
    if incoming is None:
        return
    request.propagatedHistory.CopyFrom(incoming)
    for event in itertools.chain(request.pastEvents, request.newEvents):
        if event.HasField("executionStarted"):
            event.executionStarted.DiscardUnknownFields()
            return


def attach(started: Any, history: Any) -> None:
    """Record ``history`` as what the execution ``started`` (an ExecutionStartedEvent) receives."""
    payload = history.SerializeToString()
    tag = _varint(RECEIVED_FIELD << 3 | _WIRE_LENGTH_DELIMITED)
    started.MergeFromString(tag + _varint(len(payload)) + payload)


def assemble(
    own_events: list[Any],
    scope: int,
    incoming: Any | None,
    *,
    app_id: str,
    instance_id: str,
    limit: int | None = None,
    base: int = 0,
) -> Any | None:
    """What a callee scheduled with ``scope`` receives; None for no propagation.

    ``own_events`` is the caller's execution so far; ``incoming`` what the caller received.
    Raises :class:`PropagationTooLarge` when ``base`` (the rest of the callee's work item) and the
    result together exceed ``limit`` bytes."""
    if scope == pb.PROPAGATE_NONE:
        return None
    history = pb.PropagatedHistory(scope=scope)
    if scope == pb.PROPAGATE_LINEAGE and incoming is not None:
        history.chunks.extend(incoming.chunks)
    if own_events:
        name = ""
        for event in own_events:
            if event.HasField("executionStarted"):
                name = event.executionStarted.name
                break
        history.chunks.add(
            appId=app_id,
            instanceId=instance_id,
            workflowName=name,
            rawEvents=[e.SerializeToString(deterministic=True) for e in own_events],
        )
    if limit is not None:
        size = base + history.ByteSize()
        if size > limit:
            raise PropagationTooLarge(size, limit)
    return history


def too_large_failure(what: str, error: PropagationTooLarge) -> Any:
    """The failure a caller sees when the history for ``what`` does not fit in a work item."""
    return pb.TaskFailureDetails(
        errorType="PropagatedHistoryTooLarge",
        errorMessage=(
            f"the history propagated to {what} makes its work item {error.size} bytes, over the "
            f"{error.limit}-byte payload limit (--max-payload): propagate OWN_HISTORY instead of "
            "LINEAGE, keep payloads smaller, or raise the limit"
        ),
        isNonRetriable=True,
    )
