"""The pure half of history propagation: assembling chunks, keeping them in a start event."""

from __future__ import annotations

import pytest

from tether import pb
from tether.core import propagation
from tether.core.turns import build_execution_started


def _events(name: str, instance_id: str) -> list[object]:
    started = build_execution_started(1, name, instance_id, '"in"', source_app="app")
    scheduled = pb.HistoryEvent(eventId=0)
    scheduled.taskScheduled.name = "step"
    return [started, scheduled]


def test_own_history_is_one_chunk_and_lineage_prepends_what_was_received() -> None:
    parent = propagation.assemble(
        _events("parent", "p"), pb.PROPAGATE_LINEAGE, None, app_id="a", instance_id="p"
    )
    assert [(c.appId, c.instanceId, c.workflowName) for c in parent.chunks] == [
        ("a", "p", "parent")
    ]
    assert pb.HistoryEvent.FromString(parent.chunks[0].rawEvents[1]).taskScheduled.name == "step"
    own = propagation.assemble(
        _events("child", "c"), pb.PROPAGATE_OWN_HISTORY, parent, app_id="b", instance_id="c"
    )
    assert [c.instanceId for c in own.chunks] == ["c"]
    assert own.scope == pb.PROPAGATE_OWN_HISTORY
    lineage = propagation.assemble(
        _events("child", "c"), pb.PROPAGATE_LINEAGE, parent, app_id="b", instance_id="c"
    )
    assert [c.instanceId for c in lineage.chunks] == ["p", "c"]
    assert propagation.assemble([], pb.PROPAGATE_NONE, parent, app_id="b", instance_id="c") is None


def test_a_start_event_keeps_what_it_received_and_work_items_carry_it_once() -> None:
    history = propagation.assemble(
        _events("parent", "p"), pb.PROPAGATE_OWN_HISTORY, None, app_id="a", instance_id="p"
    )
    events = _events("child", "c")
    propagation.attach(events[0].executionStarted, history)
    stored = [pb.HistoryEvent.FromString(e.SerializeToString()) for e in events]
    assert propagation.received(stored) == history
    assert stored[0].executionStarted.name == "child"  # the known fields are untouched

    request = pb.WorkflowRequest(instanceId="c")
    request.newEvents.extend(stored)
    propagation.hand_over(request, [], stored)
    assert request.propagatedHistory == history
    assert propagation.received(request.newEvents) is None  # not sent twice
    assert propagation.received(stored) == history  # the stored copy keeps it


def test_a_work_item_over_the_limit_is_refused_with_its_size() -> None:
    events = _events("parent", "p")
    with pytest.raises(propagation.PropagationTooLarge) as info:
        propagation.assemble(
            events,
            pb.PROPAGATE_OWN_HISTORY,
            None,
            app_id="a",
            instance_id="p",
            limit=1100,
            base=1000,
        )
    assert info.value.size > 1100 and info.value.limit == 1100
    failure = propagation.too_large_failure("activity 'step'", info.value)
    assert failure.isNonRetriable and failure.errorType == "PropagatedHistoryTooLarge"
    assert "over the 1100-byte payload limit" in failure.errorMessage
