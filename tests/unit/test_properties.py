"""Property: no interleaving of results, timer firings, events, suspend/resume/terminate makes
the SDK reject a history or the instance reach an impossible status."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
from dapr.ext.workflow._durabletask.task import TaskFailedError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.sim import Sim
from tether import pb
from tether.core.events import execution_resumed


def mixed(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    results: list[Any] = []
    for i in range(3):
        try:
            results.append((yield ctx.call_activity("inc", input=i)))
        except TaskFailedError:
            results.append("failed")
    event = ctx.wait_for_external_event("go")
    timer = ctx.create_timer(timedelta(seconds=5))
    winner = yield wf.when_any([event, timer])
    results.append("event" if winner == event else "timer")
    results.append((yield ctx.wait_for_external_event("go")))
    return results


def inc(raw: str | None) -> str:
    return str(int(raw or "0") + 1)


operations = st.lists(
    st.one_of(
        st.just(("turn",)),
        st.tuples(st.just("complete"), st.integers(0, 3), st.booleans()),
        st.just(("dup",)),
        st.tuples(st.just("raise"), st.sampled_from(["go", "GO", "other"])),
        st.just(("suspend",)),
        st.just(("resume",)),
        st.just(("raw_resume",)),
        st.just(("terminate",)),
        st.tuples(st.just("advance"), st.floats(0.001, 10)),
    ),
    max_size=40,
)

_FORBIDDEN = {"workflowCompleted", "continueAsNew", "eventSent", "executionStalled"}


def check_invariants(sim: Sim, before_terminal: list[Any] | None) -> None:
    history = sim.state.history
    assert sim.failures == [], sim.failures
    kinds = [e.WhichOneof("eventType") for e in history]
    assert not _FORBIDDEN & set(kinds)
    if history:
        assert kinds[0] == "workflowStarted" and kinds[1] == "executionStarted"
    action_ids = [(k, e.eventId) for k, e in zip(kinds, history, strict=True) if e.eventId >= 0]
    assert len(action_ids) == len(set(action_ids))
    suspended = False
    for kind in kinds:
        if kind == "executionSuspended":
            assert not suspended
            suspended = True
        elif kind == "executionResumed":
            assert suspended
            suspended = False
    stamps = [
        e.timestamp.seconds * 10**9 + e.timestamp.nanos
        for e in history
        if e.HasField("workflowStarted")
    ]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert kinds.count("executionCompleted") <= 1
    status = sim.state.status
    assert status in (pb.PENDING, pb.RUNNING, pb.SUSPENDED, pb.COMPLETED, pb.TERMINATED)
    if status == pb.SUSPENDED:
        assert suspended
    if before_terminal is not None:
        assert history == before_terminal  # nothing is appended after a terminal status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_random_interleavings_keep_history_valid(ops: list[tuple[Any, ...]]) -> None:
    sim = Sim(mixed, {"inc": inc})
    frozen: list[Any] | None = None
    for op in ops:
        kind = op[0]
        if kind == "turn":
            sim.turn()
        elif kind == "complete" and sim.tasks:
            ids = sorted(sim.tasks)
            sim.complete_task(ids[op[1] % len(ids)], fail=op[2])
        elif kind == "dup":
            sim.duplicate_last_result()
        elif kind == "raise":
            sim.raise_event(op[1], '"x"')
        elif kind == "suspend":
            sim.suspend()
        elif kind == "resume":
            sim.resume()
        elif kind == "raw_resume":  # a resume racing past the client-side check
            sim.enqueue(execution_resumed(sim.now, None))
        elif kind == "terminate":
            sim.terminate('"t"')
        elif kind == "advance":
            sim.tick(op[1])
        if frozen is None and sim.state.terminal:
            frozen = list(sim.state.history)
        check_invariants(sim, frozen if frozen is not None and sim.state.terminal else None)

    # Whatever happened, the instance can always be driven to a terminal status.
    sim.resume()
    sim.raise_event("go", '"a"')
    sim.raise_event("go", '"b"')
    for _ in range(50):
        sim.run()
        if sim.state.terminal:
            break
        sim.fire_due_timers()
    assert sim.state.status in (pb.COMPLETED, pb.TERMINATED)
    check_invariants(sim, None)
