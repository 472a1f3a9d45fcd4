"""A worker response that breaks the protocol fails the instance, saying what was wrong; it is
never stored as sent (core.turns.response_problem / apply_response)."""

from __future__ import annotations

from typing import Any

import pytest

from tether import pb
from tether.core.state import InstanceState, Message
from tether.core.turns import apply_response, build_execution_started, plan_turn, response_problem

NOW = 1_700_000_000 * 10**9


def _first_turn(with_terminate: bool = False) -> tuple[InstanceState, Any]:
    started = build_execution_started(NOW, "wf", "inst", None, source_app="app")
    state = InstanceState(
        instance_id="inst",
        app_id="app",
        name="wf",
        execution_id=started.executionStarted.workflowInstance.executionId.value,
    )
    state.inbox.append(Message(1, started, NOW, None, NOW))
    if with_terminate:
        term = pb.HistoryEvent(eventId=-1)
        term.executionTerminated.input.value = '"bye"'
        state.inbox.append(Message(2, term, NOW, None, NOW + 1))
    plan = plan_turn(state, NOW)
    assert plan is not None
    return state, plan


def _action(action_id: int, kind: str, **fields: Any) -> Any:
    action = pb.WorkflowAction(id=action_id)
    body = getattr(action, kind)
    body.SetInParent()
    for name, value in fields.items():
        if name == "fireAt":
            body.fireAt.seconds, body.fireAt.nanos = value
        elif name == "instanceId" and kind == "sendEvent":
            body.instance.instanceId = value
        else:
            setattr(body, name, value)
    return action


def _complete(status: int) -> Any:
    return _action(9, "completeWorkflow", workflowStatus=status)


BAD = {
    "running": [_complete(pb.RUNNING)],
    "pending": [_complete(pb.PENDING)],
    "suspended": [_complete(pb.SUSPENDED)],
    "unknown status": [_complete(99)],
    "same id twice": [_action(1, "scheduleTask", name="a"), _action(1, "scheduleTask", name="b")],
    "activity without name": [_action(1, "scheduleTask")],
    "timer without fireAt": [_action(1, "createTimer")],
    "timer past year 9999": [_action(1, "createTimer", fireAt=(253_402_300_800, 0))],
    "timer with bad nanos": [_action(1, "createTimer", fireAt=(0, -5))],
    "child without name": [_action(1, "createChildWorkflow")],
    "detached without name": [_action(1, "createDetachedWorkflow")],
    "event without target": [_action(1, "sendEvent", name="x")],
    "event without name": [_action(1, "sendEvent", instanceId="other")],
    "terminate without target": [_action(1, "terminateWorkflow")],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_broken_response_fails_the_instance_with_the_reason(case: str) -> None:
    state, plan = _first_turn()
    response = pb.WorkflowResponse(instanceId="inst", actions=BAD[case])
    problem = response_problem(response)
    assert problem is not None
    result = apply_response(state, plan, response, NOW)
    assert result.status == pb.FAILED
    assert result.failure.errorType == "InvalidWorkflowResponse"
    assert problem in result.failure.errorMessage
    assert not result.tasks and not result.timers and not result.children and not result.outgoing
    last = result.history[-1]
    assert last.executionCompleted.workflowStatus == pb.FAILED


def test_a_carried_over_event_must_be_an_event() -> None:
    complete = _complete(pb.CONTINUED_AS_NEW)
    bogus = complete.completeWorkflow.carryoverEvents.add()
    bogus.taskCompleted.taskScheduledId = 1
    problem = response_problem(pb.WorkflowResponse(actions=[complete]))
    assert problem is not None and "eventRaised" in problem


def test_the_message_names_the_action() -> None:
    response = pb.WorkflowResponse(actions=[_action(3, "createTimer"), _complete(pb.RUNNING)])
    assert response_problem(response) == "action 0 (id 3, createTimer): fireAt is required"


def test_terminate_still_wins_over_a_broken_response() -> None:
    state, plan = _first_turn(with_terminate=True)
    response = pb.WorkflowResponse(instanceId="inst", actions=[_complete(pb.RUNNING)])
    result = apply_response(state, plan, response, NOW)
    assert result.status == pb.TERMINATED
    assert result.output == '"bye"'


@pytest.mark.parametrize(
    "actions",
    [
        [_complete(pb.COMPLETED)],
        [_complete(pb.FAILED)],
        [_complete(pb.TERMINATED)],
        [_complete(pb.CONTINUED_AS_NEW)],
        [
            _action(1, "scheduleTask", name="a"),
            _action(2, "createTimer", fireAt=(253_402_300_799, 999_999_999)),
            _action(3, "createChildWorkflow", name="c"),
            _action(4, "sendEvent", instanceId="o", name="e"),
            _action(5, "terminateWorkflow", instanceId="o"),
            _action(6, "createDetachedWorkflow", name="d"),
        ],
    ],
)
def test_valid_responses_pass(actions: list[Any]) -> None:
    assert response_problem(pb.WorkflowResponse(actions=actions)) is None
