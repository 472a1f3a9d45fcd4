"""Property: events of one name reach a workflow in the order they were raised, across
continue-as-new with carried-over events, whenever each event arrives relative to the turns
(before a turn is planned, or while the turn that continues as new is being committed)."""

from __future__ import annotations

import json
from typing import Any

import dapr.ext.workflow as wf
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.sim import Sim
from tether import pb

COUNT = 6


def one_event_per_run(ctx: wf.DaprWorkflowContext, seen: list[int] | None) -> Any:
    seen = [*(seen or []), (yield ctx.wait_for_external_event("x"))]
    if len(seen) == COUNT:
        return seen
    ctx.continue_as_new(seen, save_events=True)


# For each event: how many turns run before it is raised, and whether it is raised while the
# next turn's commit is on the way (its raise time precedes the turn's, it reaches memory after
# the turn computed what to commit).
arrivals = st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=COUNT, max_size=COUNT)


@settings(max_examples=300, deadline=None)
@given(arrivals)
def test_events_stay_fifo_across_continue_as_new(schedule: list[tuple[int, bool]]) -> None:
    sim = Sim(one_event_per_run, {}, None)
    for value, (turns_before, during_commit) in enumerate(schedule, start=1):
        for _ in range(turns_before):
            sim.tick()
            sim.turn()
        sim.tick()
        raised_at = sim.now
        if not during_commit:
            sim.raise_event("x", json.dumps(value))
            continue
        sim.tick()

        def arrive(v: int = value, at: int = raised_at) -> None:
            sim.raise_event("x", json.dumps(v), order=at)

        if not sim.turn(during_commit=arrive):
            arrive()
    for _ in range(4 * COUNT):
        sim.tick()
        sim.turn()
    assert sim.failures == []
    assert sim.state.status == pb.COMPLETED
    assert json.loads(sim.state.output or "null") == list(range(1, COUNT + 1))
