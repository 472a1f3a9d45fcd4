"""Continue-as-new carries events over ahead of everything else, even a late-stored event.

An event is stamped (its inbox order) when sent and reaches memory once stored; one stamped
before a turn ends may reach memory only after the turn's restart was computed. The carried-over
events must still sort before it, or a workflow sees its events out of order (conformance:
test_continue_as_new_save_events saw [1, 2, 3, 5, 4] under load).
"""

from __future__ import annotations

from tether import pb
from tether.core.commit import restart_messages
from tether.core.state import InstanceState, Message
from tether.core.turns import ContinueAsNew, TurnPlan, TurnResult


def _raised(value: int) -> Message:
    event = pb.HistoryEvent(eventId=-1)
    event.eventRaised.name = "item"
    event.eventRaised.input.value = str(value)
    return Message(msg_id=value, event=event, visible_at=0, execution_id=None, order=1000 + value)


def test_carried_over_events_sort_before_an_event_stored_after_the_turn() -> None:
    state = InstanceState(instance_id="i", app_id="a", name="wf", execution_id="e1")
    three, four = _raised(3), _raised(4)
    state.inbox = [three, four]
    plan = TurnPlan([three.event, four.event], [three.msg_id, four.msg_id], [])
    started = pb.HistoryEvent(eventId=-1)
    started.executionStarted.name = "wf"
    result = TurnResult(continue_as_new=ContinueAsNew(started=started, carryover=[four.event]))
    turn_end = 2000
    restart = restart_messages(state, plan, result, turn_end, [90, 91])
    late = _raised(5)  # sent before the turn ended, in memory only after the restart was made
    assert late.order < turn_end
    ordered = sorted([*restart, late], key=lambda m: (m.order, m.msg_id))
    assert [m.msg_id for m in ordered] == [90, 91, 5]
