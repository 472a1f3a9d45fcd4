"""Trace context on what a turn creates, written before the turn commits (so it is durable).

* an activity's request carries its activity span as ``parentTraceContext``: the span the SDK
  worker opens around the user's activity code (``activity: name``) becomes its child;
* a child workflow's ``executionStarted`` carries the parent's child-workflow span;
* the ``executionStarted`` of a continue-as-new carries the ending execution's span, marked
  continued (the new execution links to it).
"""

from __future__ import annotations

from typing import Any

from tether.core.state import InstanceState
from tether.core.turns import TurnResult
from tether.telemetry.context import (
    CONTINUED,
    ExecutionTrace,
    TraceParent,
    execution_trace,
    find_started,
    to_proto,
)


def trace_of(state: InstanceState, result: TurnResult | None, rate: float) -> ExecutionTrace | None:
    started = find_started(state.history)
    if started is None and result is not None:
        started = find_started(result.history)
    return execution_trace(started, rate) if started is not None else None


def stamp_turn(state: InstanceState, result: TurnResult, rate: float) -> None:
    if not (result.tasks or result.children or result.continue_as_new is not None):
        return
    trace = trace_of(state, result, rate)
    if trace is None:
        return
    iid, eid = state.instance_id, state.execution_id
    for task in result.tasks:
        parent = trace.child("activity", iid, eid, task.task_id)
        task.request.parentTraceContext.CopyFrom(to_proto(parent))
    for child in result.children:
        if child.parent_task_id is not None:
            parent = trace.child("child", iid, eid, child.parent_task_id)
        else:  # a detached workflow: caused by this execution, awaited by nobody
            parent = TraceParent(trace.trace_id, trace.span_id, trace.sampled)
        _set_parent(child.started, parent)
    if result.continue_as_new is not None:
        continued = TraceParent(trace.trace_id, trace.span_id, trace.sampled, CONTINUED)
        _set_parent(result.continue_as_new.started, continued)


def _set_parent(started_event: Any, parent: TraceParent) -> None:
    started_event.executionStarted.parentTraceContext.CopyFrom(to_proto(parent))
