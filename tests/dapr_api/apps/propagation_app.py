"""A checkout that hands its history on: the behaviour of the SDK's history_propagation example.

The parent validates a merchant, starts a payment child with OWN_HISTORY and an audit activity with
LINEAGE; both read what they were given with ``ctx.get_propagated_history()``. A second workflow
(``relay``) starts a child with LINEAGE that calls an activity with LINEAGE, so the activity sees
the whole chain: grandparent first, then its parent. Run under ``tether run``; prints ``***`` lines.
"""

from __future__ import annotations

import json
import sys

import dapr.ext.workflow as wf

runtime = wf.WorkflowRuntime()


def _say(line: str) -> None:
    print(f"*** {line}", flush=True)


def _parent_step(history: wf.PropagatedHistory | None, activity: str) -> object:
    if history is None:
        return "no-history"
    chain = history.get_workflows()
    if not chain:
        return "empty-history"
    try:
        return chain[-1], chain[-1].get_last_activity_by_name(activity)
    except wf.PropagationNotFoundError:
        return "parent-missing-validate"


@runtime.activity(name="validate_merchant")
def validate_merchant(ctx: wf.WorkflowActivityContext, merchant_id: str) -> dict[str, object]:
    _say(f"validating merchant {merchant_id}")
    return {"merchant_id": merchant_id, "valid": True}


@runtime.activity(name="log_summary")
def log_summary(ctx: wf.WorkflowActivityContext, _: None) -> str:
    found = _parent_step(ctx.get_propagated_history(), "validate_merchant")
    if isinstance(found, str):
        _say(f"log_summary: {found}")
        return found
    parent, step = found  # type: ignore[misc]
    _say(
        f"log_summary saw parent on app {parent.app_id} with validate_merchant -> "
        f"completed={step.completed} output={step.output}"
    )
    return "logged"


@runtime.workflow(name="process_payment")
def process_payment(ctx: wf.DaprWorkflowContext, _: None) -> str:
    found = _parent_step(ctx.get_propagated_history(), "validate_merchant")
    if isinstance(found, str):
        _say(f"process_payment: {found}")
        return found
    _parent, step = found  # type: ignore[misc]
    if not step.completed:
        return "parent-incomplete"
    merchant = json.loads(step.output or "{}")
    _say(f"process_payment received parent context for merchant {merchant.get('merchant_id')!r}")
    return "paid"


@runtime.workflow(name="merchant_checkout")
def merchant_checkout(ctx: wf.DaprWorkflowContext, merchant_id: str):  # type: ignore[no-untyped-def]
    yield ctx.call_activity(validate_merchant, input=merchant_id)
    child = yield ctx.call_child_workflow(
        process_payment, input=None, propagation=wf.PropagationScope.OWN_HISTORY
    )
    _say(f"child workflow result: {child}")
    audit = yield ctx.call_activity(
        log_summary, input=None, propagation=wf.PropagationScope.LINEAGE
    )
    _say(f"audit activity result: {audit}")
    return {"child": child, "audit": audit}


@runtime.activity(name="show_chain")
def show_chain(ctx: wf.WorkflowActivityContext, _: None) -> list[str]:
    history = ctx.get_propagated_history()
    if history is None:
        return []
    return [f"{w.app_id}/{w.name}/{w.instance_id}" for w in history.get_workflows()]


@runtime.workflow(name="relay_child")
def relay_child(ctx: wf.DaprWorkflowContext, _: None):  # type: ignore[no-untyped-def]
    own = yield ctx.call_activity(show_chain, propagation=wf.PropagationScope.OWN_HISTORY)
    lineage = yield ctx.call_activity(show_chain, propagation=wf.PropagationScope.LINEAGE)
    return {"own": own, "lineage": lineage}


@runtime.workflow(name="relay")
def relay(ctx: wf.DaprWorkflowContext, _: None):  # type: ignore[no-untyped-def]
    return (
        yield ctx.call_child_workflow(
            relay_child, instance_id="relay-child", propagation=wf.PropagationScope.LINEAGE
        )
    )


if __name__ == "__main__":
    runtime.start()
    client = wf.DaprWorkflowClient()
    instance_id = client.schedule_new_workflow(workflow=merchant_checkout, input="merchant-42")
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert state is not None
    _say(f"workflow completed: status={state.runtime_status.name} output={state.serialized_output}")
    relayed = client.schedule_new_workflow(workflow=relay, instance_id="relay-parent")
    state = client.wait_for_workflow_completion(relayed, timeout_in_seconds=60)
    assert state is not None
    _say(f"relay: {state.serialized_output}")
    runtime.shutdown()
    sys.exit(0)
