"""Continue-as-new: the new execution's start and carried-over events sort before every other
inbox message, including one whose append was stamped before the turn's commit but reached
memory only after it (its own commit was still on the way)."""

from __future__ import annotations

from types import SimpleNamespace

from tether import pb
from tether.core.commit import restart_messages
from tether.core.state import Message
from tether.core.turns import TurnPlan


def test_carried_events_sort_before_an_event_still_committing() -> None:
    consumed = Message(1, pb.HistoryEvent(), 100, None, 100)
    state = SimpleNamespace(inbox=[consumed])
    plan = TurnPlan([], [consumed.msg_id], [])
    carried = [pb.HistoryEvent(eventId=-1), pb.HistoryEvent(eventId=-1)]
    result = SimpleNamespace(
        continue_as_new=SimpleNamespace(started=pb.HistoryEvent(), carryover=carried)
    )
    # An event raised at t=200 is committing while the turn commits at t=300; it joins the inbox
    # (with order 200) only after restart_messages ran.
    restart = restart_messages(state, plan, result, 300, [10, 11, 12])  # type: ignore[arg-type]
    late = Message(2, pb.HistoryEvent(), 200, None, 200)
    inbox = sorted([*restart, late], key=lambda m: (m.order, m.msg_id))
    assert [m.msg_id for m in inbox] == [10, 11, 12, 2]
