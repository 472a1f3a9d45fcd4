"""Turns: which inbox messages a worker sees next, and what its answer does to the instance.

``plan_turn`` picks the deliverable messages of an instance and builds the turn's ``newEvents``.
``apply_response`` folds a worker's ``WorkflowResponse`` into a :class:`TurnResult`: the history
to append, the status and payloads to record, and the effects on the rest of the system
(activities to dispatch, timers to arm, children to create, messages to other instances).
``force_terminate`` is the engine-side shortcut used when no worker can take the turn.

All functions are pure: they read the state and return new data; the engine commits the result
and only then applies it to its in-memory state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core import propagation
from tether.core.events import (
    event_kind,
    from_timestamp,
    is_sentinel,
    new_event,
    opt_str,
    timestamp_problem,
    workflow_started,
)
from tether.core.ids import instance_id_problem
from tether.core.state import InstanceState, Message, ParentRef, TaskSpec

# Every workflowStarted is strictly later than the previous one (the SDK derives
# current_utc_datetime and deterministic GUIDs from it).
_MIN_TURN_STEP_NS = 1_000


@dataclass
class TurnPlan:
    """What one orchestration work item delivers."""

    new_events: list[Any]
    consumed: list[int]  # inbox message ids delivered in this turn
    dropped: list[int]  # inbox message ids discarded as duplicates or stale

    @property
    def delivers_terminate(self) -> Any | None:
        for event in self.new_events:
            if event.HasField("executionTerminated"):
                return event.executionTerminated
        return None


@dataclass
class Outgoing:
    """An event for another instance's inbox (parent notification, cascade, sendEvent)."""

    instance_id: str
    event: Any
    execution_id: str | None = None  # deliver only to this execution of the target
    app_id: str | None = None  # the target's app when known


@dataclass
class ChildStart:
    instance_id: str
    app_id: str
    name: str
    started: Any  # HistoryEvent carrying executionStarted
    parent_task_id: int | None  # None for detached spawns


@dataclass
class ContinueAsNew:
    started: Any  # executionStarted of the new execution
    carryover: list[Any]


@dataclass
class TurnResult:
    history: list[Any] = field(default_factory=list)
    status: int = pb.RUNNING
    custom_status: str | None = None
    output: str | None = None
    failure: Any | None = None
    stall: Any | None = None  # ExecutionStalledEvent
    tasks: list[TaskSpec] = field(default_factory=list)
    timers: list[Message] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    continue_as_new: ContinueAsNew | None = None
    consumed: list[int] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in pb.TERMINAL_STATUSES


def next_turn_time(state: InstanceState, now: int) -> int:
    return max(now, state.last_turn_at + _MIN_TURN_STEP_NS)


def plan_turn(state: InstanceState, now: int, force_start: bool = False) -> TurnPlan | None:
    """Select the inbox messages to deliver now, or None when nothing may be delivered yet.

    A scheduled instance holds all of its inbox until its start is due, then delivers
    ``executionStarted`` first. Duplicates (a second result for a task, a second firing of a
    timer, a resume of an instance that is not suspended) are dropped, never delivered: the SDK
    fails an orchestration on events it does not expect. ``force_start`` delivers a scheduled
    start early (a terminate of a scheduled instance must not wait for its start time).
    """
    if state.terminal:
        return None
    visible = [m for m in state.inbox if m.visible_at <= now or force_start]
    if not visible:
        return None
    if not state.started:
        starts = [m for m in visible if m.event.HasField("executionStarted")]
        if not starts:
            return None
        visible = [starts[0]] + [m for m in visible if m is not starts[0]]

    delivered: list[Any] = []
    consumed: list[int] = []
    dropped: list[int] = []
    seen_tasks: set[int] = set()
    seen_timers: set[int] = set()
    seen_children: set[int] = set()
    started = state.started
    suspended = state.status == pb.SUSPENDED
    for message in visible:
        event = message.event
        keep = message.execution_id is None or message.execution_id == state.execution_id
        kind = event_kind(event)
        if not keep:
            pass
        elif kind == "executionStarted":
            keep = not started
            started = True
        elif kind in ("taskCompleted", "taskFailed"):
            task_id = getattr(event, kind).taskScheduledId
            keep = (
                task_id in state.scheduled_tasks
                and task_id not in state.resolved_tasks
                and task_id not in seen_tasks
            )
            seen_tasks.add(task_id)
        elif kind == "timerFired":
            timer_id = event.timerFired.timerId
            keep = timer_id not in state.fired_timers and timer_id not in seen_timers
            seen_timers.add(timer_id)
        elif kind in ("childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"):
            task_id = getattr(event, kind).taskScheduledId
            keep = (
                task_id in state.created_children
                and task_id not in state.resolved_children
                and task_id not in seen_children
            )
            seen_children.add(task_id)
        elif kind == "executionSuspended":
            keep = not suspended
            suspended = True
        elif kind == "executionResumed":
            keep = suspended
            suspended = False
        elif kind not in ("eventRaised", "executionTerminated"):
            keep = False  # nothing else belongs in a worker-visible inbox
        if keep:
            if event.timestamp.seconds == 0 and event.timestamp.nanos == 0:
                stamped = pb.HistoryEvent()
                stamped.CopyFrom(event)
                stamped.timestamp.seconds, stamped.timestamp.nanos = divmod(now, 1_000_000_000)
                event = stamped
            delivered.append(event)
            consumed.append(message.msg_id)
        else:
            dropped.append(message.msg_id)

    if not delivered:
        return TurnPlan(new_events=[], consumed=[], dropped=dropped)
    return TurnPlan(
        new_events=[workflow_started(next_turn_time(state, now)), *delivered],
        consumed=consumed,
        dropped=dropped,
    )


def _router(app_id: str, action: Any) -> tuple[Any, str]:
    """The event router for an action and the app id that must run it."""
    router = pb.TaskRouter(sourceAppID=app_id)
    target = app_id
    if action.HasField("router") and action.router.HasField("targetAppID"):
        target = action.router.targetAppID or app_id
        if target != app_id:
            router.targetAppID = target
    return router, target


def _stall(state: InstanceState, reason: int, description: str, now: int) -> TurnResult:
    stalled = pb.ExecutionStalledEvent(reason=reason, description=description)
    history: list[Any] = []
    last = state.history[-1] if state.history else None
    if last is None or not (last.HasField("executionStalled") and last.executionStalled == stalled):
        event = new_event(now)
        event.executionStalled.CopyFrom(stalled)
        history.append(event)
    return TurnResult(
        history=history,
        status=pb.STALLED,
        custom_status=state.custom_status,
        stall=stalled,
    )


def child_instance_id(parent_id: str, action_id: int) -> str:
    return f"{parent_id}:{action_id:04x}"


def build_execution_started(
    now: int,
    name: str,
    instance_id: str,
    input_value: str | None,
    *,
    source_app: str,
    parent: ParentRef | None = None,
    version: str | None = None,
    scheduled_start: Any | None = None,
    tags: dict[str, str] | None = None,
    trace: Any | None = None,
) -> Any:
    event = new_event(now)
    started = event.executionStarted
    started.name = name
    if version:
        started.version.value = version
    if input_value is not None:
        started.input.value = input_value
    started.workflowInstance.instanceId = instance_id
    started.workflowInstance.executionId.value = uuid.uuid4().hex
    if parent is not None:
        info = started.parentInstance
        info.taskScheduledId = parent.task_scheduled_id
        info.name.value = parent.name
        info.workflowInstance.instanceId = parent.instance_id
        info.workflowInstance.executionId.value = parent.execution_id
        info.appID = parent.app_id
    if scheduled_start is not None:
        started.scheduledStartTimestamp.CopyFrom(scheduled_start)
    if tags:
        started.tags.update(tags)
    if trace is not None:
        started.parentTraceContext.CopyFrom(trace)
    event.router.sourceAppID = source_app
    return event


def _notify_parent(state: InstanceState, status: int, output: str | None, failure: Any) -> Outgoing:
    parent = state.parent
    assert parent is not None
    event = new_event(0)
    if status == pb.COMPLETED:
        event.childWorkflowInstanceCompleted.taskScheduledId = parent.task_scheduled_id
        if output is not None:
            event.childWorkflowInstanceCompleted.result.value = output
    else:
        event.childWorkflowInstanceFailed.taskScheduledId = parent.task_scheduled_id
        if failure is not None:
            event.childWorkflowInstanceFailed.failureDetails.CopyFrom(failure)
    return Outgoing(
        instance_id=parent.instance_id,
        event=event,
        execution_id=parent.execution_id,
        app_id=parent.app_id,
    )


def _finish(
    state: InstanceState,
    result: TurnResult,
    status: int,
    output: str | None,
    failure: Any | None,
    terminate: Any | None,
    now: int,
    event_id: int,
) -> None:
    """Record a terminal status and the messages it sends: parent notice, recursive cascade."""
    event = new_event(now, event_id)
    event.executionCompleted.workflowStatus = status
    if output is not None:
        event.executionCompleted.result.value = output
    if failure is not None:
        event.executionCompleted.failureDetails.CopyFrom(failure)
    result.history.append(event)
    result.status = status
    result.output = output
    result.failure = failure
    result.tasks.clear()
    result.timers.clear()
    if state.parent is not None:
        result.outgoing.append(_notify_parent(state, status, output, failure))
    if status == pb.TERMINATED and terminate is not None and terminate.recurse:
        children = list(state.child_ids()) + [c.instance_id for c in result.children]
        for child in dict.fromkeys(children):
            cascade = new_event(0)
            cascade.executionTerminated.recurse = True
            if output is not None:
                cascade.executionTerminated.input.value = output
            result.outgoing.append(Outgoing(instance_id=child, event=cascade))


def apply_response(
    state: InstanceState,
    plan: TurnPlan,
    response: Any,
    now: int,
    *,
    payload_limit: int | None = None,
) -> TurnResult:
    """Fold a worker's answer to ``plan`` into the changes to commit.

    ``payload_limit`` bounds the history propagated to an activity or child (None: no bound)."""
    result = TurnResult(history=list(plan.new_events), consumed=list(plan.consumed))
    result.custom_status = opt_str(response, "customStatus")
    result.status = state.status if state.status != pb.PENDING else pb.RUNNING
    turn_started = result.history[0]

    # The SDK omits ``version`` when no patch was hit, so an absent version means "no patches".
    recorded = state.patches
    full = list(response.version.patches) if response.HasField("version") else []
    if full[: len(recorded)] != recorded:
        return _stall(
            state,
            pb.PATCH_MISMATCH,
            f"Patch mismatch. History patches: {recorded}, current patches: {full}",
            now,
        )
    if response.HasField("version"):
        fresh = full[len(recorded) :]
        name = response.version.name if response.version.HasField("name") else None
        if fresh or name:
            version = turn_started.workflowStarted.version
            version.patches.extend(fresh)
            if name:
                version.name = name

    terminate = plan.delivers_terminate
    problem = response_problem(response)
    if problem is not None:
        # Never stored as sent: the instance fails and says why (a terminate still wins).
        failed = TurnResult(history=list(plan.new_events), consumed=list(plan.consumed))
        failed.custom_status = state.custom_status
        if terminate is not None:
            output = opt_str(terminate, "input")
            _finish(state, failed, pb.TERMINATED, output, None, terminate, now, -1)
        else:
            failure = pb.TaskFailureDetails(
                errorType="InvalidWorkflowResponse",
                errorMessage=f"the worker's response broke the protocol: {problem}",
            )
            _finish(state, failed, pb.FAILED, None, failure, None, now, -1)
        return failed
    completion: Any | None = None
    for action in response.actions:
        kind = action.WhichOneof("workflowActionType")
        if kind == "completeWorkflow":
            completion = action
            break
        if _already_committed(state, kind, action.id):
            continue  # a replay re-issued an operation history already holds (daprd drops it too)
        if kind == "scheduleTask":
            _schedule_task(state, result, action, now, payload_limit)
        elif kind == "createTimer":
            _create_timer(state, result, action, now)
        elif kind == "createChildWorkflow":
            _create_child(state, result, action, now, payload_limit)
        elif kind == "createDetachedWorkflow":
            _create_detached(state, result, action, now)
        elif kind == "sendEvent":
            send = action.sendEvent
            event = new_event(0)
            event.eventRaised.name = send.name
            if send.HasField("data"):
                event.eventRaised.input.CopyFrom(send.data)
            result.outgoing.append(Outgoing(instance_id=send.instance.instanceId, event=event))
        elif kind == "terminateWorkflow":
            term = action.terminateWorkflow
            event = new_event(0)
            event.executionTerminated.recurse = term.recurse
            if term.HasField("reason"):
                event.executionTerminated.input.CopyFrom(term.reason)
            result.outgoing.append(Outgoing(instance_id=term.instanceId, event=event))
        elif kind == "workflowVersionNotAvailable":
            name = state.version_name or ""
            return _stall(state, pb.VERSION_NOT_AVAILABLE, f"Version not available: {name}", now)
        else:
            failure = pb.TaskFailureDetails(
                errorType="UnsupportedAction",
                errorMessage=f"the worker sent an action tether does not support: {kind}",
            )
            _finish(state, result, pb.FAILED, None, failure, None, now, action.id)
            return result

    if terminate is not None:
        status = completion.completeWorkflow.workflowStatus if completion is not None else None
        if status != pb.TERMINATED:
            # Terminate wins wherever it sits in the batch and whatever the worker answered.
            forced = TurnResult(history=list(plan.new_events), consumed=list(plan.consumed))
            forced.custom_status = result.custom_status
            output = opt_str(terminate, "input")
            _finish(state, forced, pb.TERMINATED, output, None, terminate, now, -1)
            return forced

    if completion is not None:
        complete = completion.completeWorkflow
        status = int(complete.workflowStatus)
        if status == pb.CONTINUED_AS_NEW:
            _continue_as_new(state, result, complete, now, payload_limit)
            return result
        output = opt_str(complete, "result")
        failure = complete.failureDetails if complete.HasField("failureDetails") else None
        if status == pb.FAILED:
            output = None
        _finish(state, result, status, output, failure, terminate, now, completion.id)
    return result


_FINAL_STATUSES = frozenset({pb.COMPLETED, pb.FAILED, pb.TERMINATED, pb.CONTINUED_AS_NEW})


def response_problem(response: Any) -> str | None:
    """What makes a worker's ``WorkflowResponse`` break the protocol, or None when it is valid.

    Each action kind's required fields are checked the same way; action IDs must be unique in one
    response (they become history event IDs).
    """
    seen: set[int] = set()
    for index, action in enumerate(response.actions):
        kind = action.WhichOneof("workflowActionType")
        where = f"action {index} (id {action.id}, {kind or 'no action type'})"
        if action.id in seen:
            return f"{where}: another action of this response has the same id"
        seen.add(action.id)
        problem = _action_problem(kind, action)
        if problem is not None:
            return f"{where}: {problem}"
    return None


def _action_problem(kind: str | None, action: Any) -> str | None:
    if kind == "scheduleTask":
        return None if action.scheduleTask.name else "an activity name is required"
    if kind == "createTimer":
        timer = action.createTimer
        if not timer.HasField("fireAt"):
            return "fireAt is required"
        problem = timestamp_problem(timer.fireAt)
        return None if problem is None else f"fireAt: {problem}"
    if kind == "createChildWorkflow":
        child = action.createChildWorkflow
        if child.instanceId and (problem := instance_id_problem(child.instanceId)):
            return problem
        return None if child.name else "a workflow name is required"
    if kind == "createDetachedWorkflow":
        spawn = action.createDetachedWorkflow
        if spawn.instanceId and (problem := instance_id_problem(spawn.instanceId)):
            return problem
        if not spawn.name:
            return "a workflow name is required"
        if spawn.HasField("scheduledStartTimestamp"):
            problem = timestamp_problem(spawn.scheduledStartTimestamp)
            return None if problem is None else f"scheduledStartTimestamp: {problem}"
        return None
    if kind == "sendEvent":
        send = action.sendEvent
        if not send.instance.instanceId:
            return "the target instance ID is required"
        return None if send.name else "an event name is required"
    if kind == "terminateWorkflow":
        return None if action.terminateWorkflow.instanceId else "the target instance ID is required"
    if kind == "completeWorkflow":
        complete = action.completeWorkflow
        status = int(complete.workflowStatus)
        if status not in _FINAL_STATUSES:
            name = pb.STATUS_NAMES.get(status, f"unknown status {status}")
            return (
                f"workflowStatus {name} does not end a workflow "
                "(COMPLETED, FAILED, TERMINATED or CONTINUED_AS_NEW)"
            )
        for event in complete.carryoverEvents:
            if not event.HasField("eventRaised"):
                return f"carryoverEvents may hold only eventRaised, not {event_kind(event)!r}"
        return None
    return None


def _already_committed(state: InstanceState, kind: str | None, action_id: int) -> bool:
    if kind == "scheduleTask":
        return action_id in state.scheduled_tasks
    if kind == "createTimer":
        return action_id in state.created_timers
    if kind == "createChildWorkflow":
        return action_id in state.created_children
    return False


def _schedule_task(
    state: InstanceState, result: TurnResult, action: Any, now: int, limit: int | None
) -> None:
    task = action.scheduleTask
    router, _target = _router(state.app_id, action)
    event = new_event(now, action.id)
    scheduled = event.taskScheduled
    scheduled.name = task.name
    if task.HasField("version"):
        scheduled.version.CopyFrom(task.version)
    if task.HasField("input"):
        scheduled.input.CopyFrom(task.input)
    scheduled.taskExecutionId = task.taskExecutionId
    if task.HasField("historyPropagationScope"):
        scheduled.historyPropagationScope = task.historyPropagationScope
    event.router.CopyFrom(router)
    result.history.append(event)
    spec = task_for(state, event)
    try:
        propagated = _propagate(state, result, task, limit, spec.request.ByteSize())
    except propagation.PropagationTooLarge as error:
        _fail_at_once(state, result, event, "taskFailed", f"activity '{task.name}'", error, now)
        return
    if propagated is not None:
        spec.request.propagatedHistory.CopyFrom(propagated)
    result.tasks.append(spec)


def _propagate(
    state: InstanceState, result: TurnResult, action: Any, limit: int | None, base: int
) -> Any:
    """The history a scheduling action with ``historyPropagationScope`` hands its callee, whose
    work item holds ``base`` bytes besides."""
    if not action.HasField("historyPropagationScope"):
        return None
    own = [*state.history, *result.history]
    return propagation.assemble(
        own,
        action.historyPropagationScope,
        propagation.received(own),
        app_id=state.app_id,
        instance_id=state.instance_id,
        limit=limit,
        base=base,
    )


def _fail_at_once(
    state: InstanceState,
    result: TurnResult,
    scheduled: Any,
    kind: str,
    what: str,
    error: propagation.PropagationTooLarge,
    now: int,
) -> None:
    """Answer the call ``scheduled`` with a ``kind`` failure (taskFailed or
    childWorkflowInstanceFailed) in this execution's inbox, visible at once."""
    failed = new_event(0)
    body = getattr(failed, kind)
    body.taskScheduledId = scheduled.eventId
    body.failureDetails.CopyFrom(propagation.too_large_failure(what, error))
    result.timers.append(
        Message(msg_id=0, event=failed, visible_at=now, execution_id=state.execution_id, order=0)
    )


def task_for(state: InstanceState, event: Any) -> TaskSpec:
    """The activity dispatch a committed ``taskScheduled`` event calls for."""
    scheduled = event.taskScheduled
    request = pb.ActivityRequest(name=scheduled.name, taskId=event.eventId)
    if scheduled.HasField("version"):
        request.version.CopyFrom(scheduled.version)
    if scheduled.HasField("input"):
        request.input.CopyFrom(scheduled.input)
    request.workflowInstance.instanceId = state.instance_id
    request.taskExecutionId = scheduled.taskExecutionId
    target = state.app_id
    if event.HasField("router") and event.router.HasField("targetAppID"):
        target = event.router.targetAppID or state.app_id
    return TaskSpec(
        instance_id=state.instance_id,
        execution_id=state.execution_id,
        task_id=event.eventId,
        app_id=target,
        request=request,
    )


def _create_timer(state: InstanceState, result: TurnResult, action: Any, now: int) -> None:
    timer = action.createTimer
    event = new_event(now, action.id)
    created = event.timerCreated
    created.fireAt.CopyFrom(timer.fireAt)
    if timer.HasField("name"):
        created.name = timer.name
    origin = timer.WhichOneof("origin")
    if origin is not None:
        getattr(created, origin).CopyFrom(getattr(timer, origin))
    result.history.append(event)
    fired = timer_for(state, event)
    if fired is not None:
        result.timers.append(fired)


def timer_for(state: InstanceState, event: Any) -> Message | None:
    """The inbox message a ``timerCreated`` event arms; None for an indefinite wait."""
    fire_at = event.timerCreated.fireAt
    if is_sentinel(fire_at):
        return None
    fired = new_event(0)
    fired.timerFired.timerId = event.eventId
    fired.timerFired.fireAt.CopyFrom(fire_at)
    return Message(
        msg_id=0,
        event=fired,
        visible_at=from_timestamp(fire_at),
        execution_id=state.execution_id,
        order=0,
    )


def _create_child(
    state: InstanceState, result: TurnResult, action: Any, now: int, limit: int | None
) -> None:
    child = action.createChildWorkflow
    child_id = child.instanceId or child_instance_id(state.instance_id, action.id)
    router, _target = _router(state.app_id, action)
    event = new_event(now, action.id)
    created = event.childWorkflowInstanceCreated
    created.instanceId = child_id
    created.name = child.name
    if child.HasField("version"):
        created.version.CopyFrom(child.version)
    if child.HasField("input"):
        created.input.CopyFrom(child.input)
    if child.HasField("historyPropagationScope"):
        created.historyPropagationScope = child.historyPropagationScope
    if child.HasField("retryParentInstanceInfo"):
        created.retryParentInstanceInfo.CopyFrom(child.retryParentInstanceInfo)
    event.router.CopyFrom(router)
    result.history.append(event)
    start = child_for(state, event, now)
    try:
        propagated = _propagate(state, result, child, limit, start.started.ByteSize())
    except propagation.PropagationTooLarge as error:
        what = f"child workflow '{child_id}'"
        _fail_at_once(state, result, event, "childWorkflowInstanceFailed", what, error, now)
        return
    if propagated is not None:
        propagation.attach(start.started.executionStarted, propagated)
    result.children.append(start)


def child_for(state: InstanceState, event: Any, now: int) -> ChildStart:
    """The child instance a ``childWorkflowInstanceCreated`` event starts."""
    created = event.childWorkflowInstanceCreated
    target = state.app_id
    if event.HasField("router") and event.router.HasField("targetAppID"):
        target = event.router.targetAppID or state.app_id
    parent = ParentRef(
        instance_id=state.instance_id,
        app_id=state.app_id,
        execution_id=state.execution_id,
        task_scheduled_id=event.eventId,
        name=state.name,
    )
    started = build_execution_started(
        now,
        created.name,
        created.instanceId,
        opt_str(created, "input"),
        source_app=state.app_id,
        parent=parent,
        version=opt_str(created, "version"),
    )
    return ChildStart(
        instance_id=created.instanceId,
        app_id=target,
        name=created.name,
        started=started,
        parent_task_id=event.eventId,
    )


def _create_detached(state: InstanceState, result: TurnResult, action: Any, now: int) -> None:
    spawn = action.createDetachedWorkflow
    instance_id = spawn.instanceId or uuid.uuid4().hex
    router, target = _router(state.app_id, action)
    event = new_event(now, action.id)
    event.detachedWorkflowInstanceCreated.instanceId = instance_id
    event.router.CopyFrom(router)
    result.history.append(event)
    started = build_execution_started(
        now,
        spawn.name,
        instance_id,
        opt_str(spawn, "input"),
        source_app=state.app_id,
        version=opt_str(spawn, "version"),
        scheduled_start=(
            spawn.scheduledStartTimestamp if spawn.HasField("scheduledStartTimestamp") else None
        ),
        tags=dict(spawn.tags),
    )
    result.children.append(
        ChildStart(
            instance_id=instance_id,
            app_id=target,
            name=spawn.name,
            started=started,
            parent_task_id=None,
        )
    )


def _continue_as_new(
    state: InstanceState, result: TurnResult, complete: Any, now: int, limit: int | None
) -> None:
    started = build_execution_started(
        now,
        state.name,
        state.instance_id,
        opt_str(complete, "result"),
        source_app=state.app_id,
        parent=state.parent,
        version=opt_str(complete, "newVersion"),
        tags=state.tags,
    )
    own = [*state.history, *result.history]
    incoming = propagation.received(own)
    if incoming is not None:
        # The chain goes on with the scope it came with; this generation's events join it.
        # An oversized chain is cut back to what this execution received.
        try:
            carried = propagation.assemble(
                own,
                incoming.scope,
                incoming,
                app_id=state.app_id,
                instance_id=state.instance_id,
                limit=limit,
            )
        except propagation.PropagationTooLarge:
            carried = incoming
        if carried is not None:
            propagation.attach(started.executionStarted, carried)
    carryover: list[Any] = []
    for event in complete.carryoverEvents:
        copy = pb.HistoryEvent()
        copy.CopyFrom(event)
        if copy.timestamp.seconds == 0 and copy.timestamp.nanos == 0:
            copy.timestamp.CopyFrom(started.timestamp)
        carryover.append(copy)
    result.history = []
    result.tasks.clear()
    result.timers.clear()
    result.status = pb.RUNNING
    result.continue_as_new = ContinueAsNew(started=started, carryover=carryover)


def force_terminate(state: InstanceState, plan: TurnPlan, now: int) -> TurnResult:
    """Terminate without a worker: commit the delivered events and a TERMINATED completion."""
    terminate = plan.delivers_terminate
    assert terminate is not None
    result = TurnResult(history=list(plan.new_events), consumed=list(plan.consumed))
    result.custom_status = state.custom_status
    _finish(state, result, pb.TERMINATED, opt_str(terminate, "input"), None, terminate, now, -1)
    return result
