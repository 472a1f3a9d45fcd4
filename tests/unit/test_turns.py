"""The pure core, driven by the official SDK's replay executor (tests/unit/sim.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

from tests.unit.sim import Sim
from tether import pb
from tether.core.state import InstanceState, Message
from tether.core.turns import plan_turn


def chain(ctx: wf.DaprWorkflowContext, x: int) -> Any:
    a = yield ctx.call_activity("inc", input=x)
    b = yield ctx.call_activity("inc", input=a)
    return b


def inc(raw: str | None) -> str:
    return str(int(raw or "0") + 1)


def test_chain_completes_with_ids_matching_actions() -> None:
    sim = Sim(chain, {"inc": inc}, "1")
    sim.run()
    assert sim.state.status == pb.COMPLETED
    assert sim.state.output == "3"
    kinds = [e.WhichOneof("eventType") for e in sim.state.history]
    assert kinds[:2] == ["workflowStarted", "executionStarted"]
    scheduled = [e.eventId for e in sim.state.history if e.HasField("taskScheduled")]
    assert scheduled == [1, 2]  # the Python SDK numbers actions from 1
    assert kinds[-1] == "executionCompleted"


def test_every_turn_starts_with_a_later_workflow_started() -> None:
    sim = Sim(chain, {"inc": inc}, "1")
    sim.run()
    stamps = [
        e.timestamp.seconds * 10**9 + e.timestamp.nanos
        for e in sim.state.history
        if e.HasField("workflowStarted")
    ]
    assert len(stamps) == 3
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_a_duplicate_result_is_never_delivered() -> None:
    sim = Sim(chain, {"inc": inc}, "1")
    sim.turn()
    sim.complete_task(1)
    sim.turn()
    sim.duplicate_last_result()
    sim.run()
    assert sim.state.status == pb.COMPLETED
    assert sim.failures == []
    completed = [e for e in sim.state.history if e.HasField("taskCompleted")]
    assert [e.taskCompleted.taskScheduledId for e in completed] == [1, 2]


def test_resume_of_a_running_instance_is_dropped() -> None:
    sim = Sim(chain, {"inc": inc}, "1")
    sim.turn()
    event = pb.HistoryEvent(eventId=-1)
    event.executionResumed.SetInParent()
    sim.enqueue(event)
    sim.run()
    assert sim.state.status == pb.COMPLETED
    assert not any(e.HasField("executionResumed") for e in sim.state.history)


def waits(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    approval = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=30))
    winner = yield wf.when_any([approval, timeout])
    return "approved" if winner == approval else "timed out"


def test_event_raised_before_start_rides_in_the_first_turn() -> None:
    sim = Sim(waits)
    sim.raise_event("APPROVE", '"yes"')  # names match case-insensitively
    sim.run()
    assert sim.state.output == '"approved"'
    first_turn = sim.state.history[:3]
    assert [e.WhichOneof("eventType") for e in first_turn] == [
        "workflowStarted",
        "executionStarted",
        "eventRaised",
    ]


def test_timer_fires_only_when_due() -> None:
    sim = Sim(waits)
    sim.run()
    assert sim.state.status == pb.RUNNING
    sim.fire_due_timers()
    sim.run()
    assert sim.state.output == '"timed out"'
    fired = [e for e in sim.state.history if e.HasField("timerFired")]
    assert len(fired) == 1


def forever(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("go")
    return value


def test_indefinite_wait_records_a_sentinel_timer_that_is_never_armed() -> None:
    sim = Sim(forever)
    sim.run()
    created = [e for e in sim.state.history if e.HasField("timerCreated")]
    assert len(created) == 1 and created[0].timerCreated.fireAt.seconds == pb.SENTINEL_SECONDS
    assert not any(m.event.HasField("timerFired") for m in sim.state.inbox)
    sim.raise_event("go", '"now"')
    sim.run()
    assert sim.state.output == '"now"'


def test_suspended_events_wait_for_resume() -> None:
    sim = Sim(forever)
    sim.run()
    sim.suspend()
    sim.run()
    assert sim.state.status == pb.SUSPENDED
    sim.raise_event("go", '"x"')
    sim.run()
    assert sim.state.status == pb.SUSPENDED  # committed, held back by the SDK
    sim.resume()
    sim.run()
    assert sim.state.status == pb.COMPLETED and sim.state.output == '"x"'


def test_terminate_without_a_worker_is_forced_engine_side() -> None:
    sim = Sim(forever)
    sim.run()
    sim.terminate('"bye"')
    assert sim.turn(worker=False)
    assert sim.state.status == pb.TERMINATED and sim.state.output == '"bye"'


def test_terminate_wins_over_a_completion_in_the_same_batch() -> None:
    sim = Sim(forever)
    sim.run()
    sim.raise_event("go", '"x"')
    sim.terminate('"stop"')
    sim.run()
    assert sim.state.status == pb.TERMINATED and sim.state.output == '"stop"'


def counter(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    if n < 3:
        ctx.continue_as_new(n + 1)
        return None
    return n


def test_continue_as_new_restarts_history_and_keeps_running() -> None:
    sim = Sim(counter, input_json="0")
    sim.run()
    assert sim.state.status == pb.COMPLETED
    assert sim.state.output == "3"
    assert sim.state.input == "3"
    starts = [e for e in sim.state.history if e.HasField("executionStarted")]
    assert len(starts) == 1  # only the last execution's history remains


def test_scheduled_start_holds_every_message_until_due() -> None:
    state = InstanceState(instance_id="i", app_id="a", name="w", execution_id="e")
    start = pb.HistoryEvent(eventId=-1)
    start.executionStarted.name = "w"
    raised = pb.HistoryEvent(eventId=-1)
    raised.eventRaised.name = "x"
    state.inbox = [Message(2, raised, 0, None, 1), Message(1, start, 100, None, 0)]
    assert plan_turn(state, 50) is None
    plan = plan_turn(state, 100)
    assert plan is not None
    kinds = [e.WhichOneof("eventType") for e in plan.new_events]
    assert kinds == ["workflowStarted", "executionStarted", "eventRaised"]


def patched(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    if ctx.is_patched("p1"):
        yield ctx.call_activity("inc", input=1)
    value = yield ctx.wait_for_external_event("go")
    return value


def unpatched(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("go")
    return value


def test_removing_a_patch_stalls_and_a_fixed_worker_unstalls() -> None:
    sim = Sim(patched, {"inc": inc})
    sim.run()
    first = sim.state.history[0]
    assert list(first.workflowStarted.version.patches) == ["p1"]
    # Redeploy without the patch: the next turn must stall, not fail.
    sim.registry.orchestrators[sim.name] = unpatched
    sim.raise_event("go", '"v"')
    sim.run()
    assert sim.state.status == pb.STALLED
    assert sim.state.stall.reason == pb.PATCH_MISMATCH
    sim.registry.orchestrators[sim.name] = patched
    sim.run()
    assert sim.state.status == pb.COMPLETED and sim.state.output == '"v"'
