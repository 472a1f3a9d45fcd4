"""Sticky execution: generators kept between turns, fed only new events, replayed when unsure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tether.embedded as wf
from tests.conftest import wait_until
from tether import pb
from tether.embedded import _sdk

STEPS = 200


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each turn fed to a workflow's generator (replayed + new)."""
    sizes: list[int] = []
    advance = _sdk.advance

    def counting(live: Any, old: list[Any], new: list[Any], request: Any) -> Any:
        sizes.append(len(old) + len(new))
        return advance(live, old, new, request)

    monkeypatch.setattr(_sdk, "advance", counting)
    return sizes


def _chain(runtime: wf.WorkflowRuntime) -> Any:
    @runtime.workflow(name="chain")
    def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        total = 0
        for i in range(n):
            total += yield ctx.call_activity(step, input=i)
        return total

    @runtime.activity(name="step")
    def step(ctx: Any, i: int) -> int:
        return i

    return chain


def _run(tmp_path: Path, steps: int, **options: Any) -> tuple[Any, Any]:
    runtime = wf.WorkflowRuntime(app_id="sticky", store=str(tmp_path / "s.db"), **options)
    chain = _chain(runtime)
    runtime.start()
    client = wf.DaprWorkflowClient(app_id="sticky", store=str(tmp_path / "s.db"))
    try:
        iid = client.schedule_new_workflow(chain, input=steps)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
        worker = runtime.node.workers[0]
        return state, (worker.sticky_turns, worker.replayed_turns, wf.sticky_mismatches(runtime))
    finally:
        client.close()
        runtime.shutdown()


def test_a_long_workflow_costs_the_same_per_step_at_the_end(tmp_path: Path, fed: list[int]) -> None:
    state, (sticky, replayed, _) = _run(tmp_path, STEPS)
    assert state.serialized_output == str(sum(range(STEPS)))
    assert replayed == 1 and sticky == STEPS  # only the first turn starts from scratch
    # Every later turn feeds a constant handful of events, however long the history grows.
    assert max(fed[-10:]) <= max(fed[1:11]) <= 4


def test_without_stickiness_every_turn_replays_the_whole_history(
    tmp_path: Path, fed: list[int]
) -> None:
    state, (sticky, replayed, _) = _run(tmp_path, 20, sticky=False)
    assert state.serialized_output == str(sum(range(20)))
    assert sticky == 0 and replayed == 21
    assert fed[-1] > 3 * 20  # the last turn replays every event of the history


def test_a_cache_limit_evicts_and_replays_and_stays_correct(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    runtime = wf.WorkflowRuntime(
        app_id="sticky", store=store, history_cache_max_instances=1, verify_sticky=True
    )
    chain = _chain(runtime)
    runtime.start()
    client = wf.DaprWorkflowClient(app_id="sticky", store=store)
    try:
        ids = [client.schedule_new_workflow(chain, input=10) for _ in range(8)]
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
            assert state is not None and state.serialized_output == str(sum(range(10)))
        worker = runtime.node.workers[0]
        assert worker.replayed_turns > len(ids)  # evicted generators were rebuilt by replay
        assert len(worker._cache) <= 1
        assert wf.sticky_mismatches(runtime) == []
    finally:
        client.close()
        runtime.shutdown()


def _gate(runtime: wf.WorkflowRuntime) -> None:
    @runtime.workflow(name="gate")
    def gate(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        a = yield ctx.wait_for_external_event("a")
        b = yield ctx.wait_for_external_event("b")
        c = yield ctx.wait_for_external_event("c")
        return [a, b, c]


def _raised(runtime: wf.WorkflowRuntime, instance_id: str) -> int:
    stored = runtime.node.call(runtime.node.engine.history(instance_id))
    events = [pb.HistoryEvent.FromString(b) for b in stored]
    return sum(e.HasField("eventRaised") for e in events)


def test_a_restarted_runtime_replays_then_goes_sticky_again(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    first = wf.WorkflowRuntime(app_id="sticky", store=store, verify_sticky=True)
    _gate(first)
    first.start()
    client = wf.DaprWorkflowClient(app_id="sticky", store=store)
    iid = client.schedule_new_workflow("gate", input=None)
    client.wait_for_workflow_start(iid, timeout_in_seconds=30)
    client.raise_workflow_event(iid, "a", data=1)
    client.close()
    first.shutdown()  # the node stops: every kept generator is gone

    second = wf.WorkflowRuntime(app_id="sticky", store=store, verify_sticky=True)
    _gate(second)
    second.start()
    client = wf.DaprWorkflowClient(app_id="sticky", store=store)
    try:
        client.raise_workflow_event(iid, "b", data=2)
        wait_until(lambda: _raised(second, iid) == 2)  # "b" has had its turn
        client.raise_workflow_event(iid, "c", data=3)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.serialized_output == "[1, 2, 3]"
        worker = second.node.workers[0]
        assert worker.replayed_turns == 1 and worker.sticky_turns >= 1
        assert wf.sticky_mismatches(second) == []
    finally:
        client.close()
        second.shutdown()
