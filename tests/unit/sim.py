"""A pure, in-memory engine loop for unit tests: tether's core plus the SDK's own replay executor.

No sockets, no threads: each ``turn()`` plans from the inbox, runs the official SDK's
``_OrchestrationExecutor`` on exactly what a worker would receive, and applies its answer.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from dapr.ext.workflow._durabletask import worker as sdk_worker

from tether import pb
from tether.core.commit import apply_result, next_meta, restart_messages
from tether.core.events import (
    execution_resumed,
    execution_suspended,
    execution_terminated,
    new_event,
)
from tether.core.state import InstanceState, Message
from tether.core.turns import apply_response, build_execution_started, force_terminate, plan_turn

_ids = itertools.count(1)
SECOND = 1_000_000_000


class Sim:
    def __init__(
        self,
        orchestrator: Any,
        activities: dict[str, Any] | None = None,
        input_json: str | None = None,
    ) -> None:
        self.registry = sdk_worker._Registry()
        self.name = self.registry.add_orchestrator(orchestrator)
        self.activities = activities or {}
        self.now = 1_700_000_000 * SECOND
        started = build_execution_started(self.now, self.name, "inst", input_json, source_app="app")
        self.state = InstanceState(
            instance_id="inst",
            app_id="app",
            name=self.name,
            execution_id=started.executionStarted.workflowInstance.executionId.value,
        )
        self.enqueue(started)
        self.tasks: dict[int, Any] = {}  # task id -> ActivityRequest, pending dispatch
        self.turns = 0
        self.failures: list[str] = []

    def enqueue(
        self,
        event: Any,
        visible_at: int | None = None,
        execution_id: str | None = None,
        order: int | None = None,
    ) -> None:
        """Add a message as the runtime does: the inbox stays sorted by (order, msg id)."""
        message = Message(
            next(_ids), event, visible_at or self.now, execution_id, order or self.now
        )
        self.state.inbox.append(message)
        self.state.inbox.sort(key=lambda m: (m.order, m.msg_id))

    def tick(self, seconds: float = 0.001) -> None:
        self.now += int(seconds * SECOND)

    def raise_event(self, name: str, data: str | None, order: int | None = None) -> None:
        event = new_event(order or self.now)
        event.eventRaised.name = name
        if data is not None:
            event.eventRaised.input.value = data
        self.enqueue(event, order=order)

    def suspend(self) -> None:
        if not self.state.suspended_after_inbox():
            self.enqueue(execution_suspended(self.now, None))

    def resume(self) -> None:
        if self.state.suspended_after_inbox():
            self.enqueue(execution_resumed(self.now, None))

    def terminate(self, output: str | None = None) -> None:
        self.enqueue(execution_terminated(self.now, output, True))

    def complete_task(self, task_id: int, *, fail: bool = False) -> None:
        request = self.tasks.pop(task_id, None)
        if request is None:
            return
        response = pb.ActivityResponse(instanceId="inst", taskId=task_id)
        if fail:
            response.failureDetails.errorType = "ValueError"
            response.failureDetails.errorMessage = "boom"
        else:
            fn = self.activities[request.name]
            arg = request.input.value if request.HasField("input") else None
            response.result.value = fn(arg)
        event = new_event(self.now)
        if fail:
            event.taskFailed.taskScheduledId = task_id
            event.taskFailed.failureDetails.CopyFrom(response.failureDetails)
        else:
            event.taskCompleted.taskScheduledId = task_id
            event.taskCompleted.result.CopyFrom(response.result)
        self.enqueue(event, execution_id=self.state.execution_id)

    def duplicate_last_result(self) -> None:
        for event in reversed(self.state.history):
            if event.HasField("taskCompleted") or event.HasField("taskFailed"):
                copy = pb.HistoryEvent()
                copy.CopyFrom(event)
                self.enqueue(copy, execution_id=self.state.execution_id)
                return

    def turn(
        self, *, worker: bool = True, during_commit: Callable[[], None] | None = None
    ) -> bool:
        """Run one turn if anything is deliverable; False when idle.

        ``during_commit`` runs between computing the turn's changes and applying them, where
        the runtime awaits the store (other writes land in memory meanwhile).
        """
        state = self.state
        force = not state.started and any(
            m.event.HasField("executionTerminated") for m in state.inbox
        )
        plan = plan_turn(state, self.now, force_start=force)
        if plan is None:
            return False
        if not plan.new_events:
            state.inbox = [m for m in state.inbox if m.msg_id not in plan.dropped]
            return True
        if plan.delivers_terminate is not None and (not worker or not state.started):
            result = force_terminate(state, plan, self.now)
        else:
            executor = sdk_worker._OrchestrationExecutor(self.registry, logging.getLogger("sim"))
            outcome = executor.execute("inst", list(state.history), plan.new_events)
            response = pb.WorkflowResponse(instanceId="inst", actions=outcome.actions)
            if outcome.encoded_custom_status is not None:
                response.customStatus.value = outcome.encoded_custom_status
            if outcome.version_name:
                response.version.name = outcome.version_name
            if outcome.patches:
                response.version.patches.extend(outcome.patches)
            for action in outcome.actions:
                if action.HasField("completeWorkflow") and action.completeWorkflow.HasField(
                    "failureDetails"
                ):
                    self.failures.append(action.completeWorkflow.failureDetails.errorMessage)
            result = apply_response(state, plan, response, self.now)
        restart: list[Message] = []
        if result.continue_as_new is not None:
            count = 1 + len(result.continue_as_new.carryover)
            restart = restart_messages(
                state, plan, result, self.now, [next(_ids) for _ in range(count)]
            )
            self.tasks.clear()
        for timer in result.timers:
            timer.msg_id = next(_ids)
            timer.order = self.now
        meta = next_meta(state, result, self.now)
        if during_commit is not None:
            during_commit()
        apply_result(state, plan, result, meta, restart)
        for task in result.tasks:
            self.tasks[task.task_id] = task.request
        if result.terminal:
            self.tasks.clear()
        self.turns += 1
        return True

    def fire_due_timers(self) -> None:
        upcoming = [m.visible_at for m in self.state.inbox if m.visible_at > self.now]
        if upcoming:
            self.now = min(upcoming)

    def run(self, limit: int = 200) -> None:
        for _ in range(limit):
            if self.turn():
                continue
            if self.tasks:
                self.complete_task(min(self.tasks))
                continue
            return
