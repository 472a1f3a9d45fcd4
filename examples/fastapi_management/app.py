"""The "Complete Management Example" from the Dapr workflow tutorial: a FastAPI app exposing
start / status / approve / terminate-and-purge endpoints around an approval workflow.

Run it with a tether sidecar (the sidecar sets DAPR_GRPC_PORT and friends for the app):

    tether run --app-id orders -- python app.py                  # serves on :8000
    APP_PORT=8080 tether run --app-id orders -- python app.py

or with uvicorn directly: ``tether run --app-id orders -- uvicorn app:app --port 8000``.

Then:

    curl -X POST "http://localhost:8000/orders/12345/start?amount=1500"
    curl "http://localhost:8000/orders/12345/status"
    curl -X POST "http://localhost:8000/orders/12345/approve?approved=true"
    curl -X DELETE "http://localhost:8000/orders/12345/workflow"

Departures from the tutorial's listing, each a fix: one workflow client for the app (not one
gRPC channel per request), blocking SDK calls in plain ``def`` endpoints (FastAPI runs them on
its thread pool instead of blocking the event loop), the status as the enum's name, a 404 when
the workflow does not exist, and terminate-then-purge waits for the termination to land before
purging (purge refuses a running instance).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import dapr.ext.workflow as wf
from fastapi import FastAPI, HTTPException

wfr = wf.WorkflowRuntime()


@wfr.workflow(name="approval_workflow")
def approval_workflow(ctx: wf.DaprWorkflowContext, order: dict[str, Any]) -> Any:
    if order["amount"] > 1000:
        yield ctx.call_activity(request_approval_activity, input=order)
        approval = ctx.wait_for_external_event("approval_decision")
        decision = yield approval
        if not decision.get("approved"):
            return {"status": "rejected", "reason": decision.get("reason")}
    yield ctx.call_activity(process_order_activity, input=order)
    return {"status": "completed"}


@wfr.activity(name="request_approval_activity")
def request_approval_activity(ctx: wf.WorkflowActivityContext, order: dict[str, Any]) -> Any:
    print(f"Approval requested for order {order['order_id']}", flush=True)
    return {"requested": True}


@wfr.activity(name="process_order_activity")
def process_order_activity(ctx: wf.WorkflowActivityContext, order: dict[str, Any]) -> Any:
    print(f"Processing order {order['order_id']}", flush=True)
    return {"processed": True}


_client: wf.DaprWorkflowClient | None = None


def client() -> wf.DaprWorkflowClient:
    global _client
    if _client is None:
        _client = wf.DaprWorkflowClient()
    return _client


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    wfr.start()
    yield
    wfr.shutdown()


app = FastAPI(lifespan=lifespan)


def _instance_id(order_id: str) -> str:
    return f"order-{order_id}-workflow"


@app.post("/orders/{order_id}/start")
def start_order_workflow(order_id: str, amount: float = 500) -> dict[str, Any]:
    instance_id = client().schedule_new_workflow(
        workflow=approval_workflow,
        input={"order_id": order_id, "amount": amount},
        instance_id=_instance_id(order_id),
    )
    return {"instance_id": instance_id, "status": "started"}


@app.get("/orders/{order_id}/status")
def get_order_status(order_id: str) -> dict[str, Any]:
    state = client().get_workflow_state(_instance_id(order_id))
    if not state:
        raise HTTPException(404, "Workflow not found")
    return {
        "instance_id": state.instance_id,
        "status": state.runtime_status.name,
        "created_at": str(state.created_at),
        "output": state.serialized_output,
    }


@app.post("/orders/{order_id}/approve")
def approve_order(
    order_id: str, approved: bool = True, reason: str | None = None
) -> dict[str, Any]:
    instance_id = _instance_id(order_id)
    if not client().get_workflow_state(instance_id):
        raise HTTPException(404, "Workflow not found")
    client().raise_workflow_event(
        instance_id=instance_id,
        event_name="approval_decision",
        data={"approved": approved, "reason": reason},
    )
    return {"event": "approval_decision", "sent": True}


@app.delete("/orders/{order_id}/workflow")
def terminate_and_purge(order_id: str) -> dict[str, Any]:
    instance_id = _instance_id(order_id)
    state = client().get_workflow_state(instance_id)
    if not state:
        raise HTTPException(404, "Workflow not found")
    if state.runtime_status.name in ("RUNNING", "PENDING", "SUSPENDED"):
        client().terminate_workflow(instance_id)
        client().wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    client().purge_workflow(instance_id)
    return {"instance_id": instance_id, "purged": True}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("APP_PORT", "8000")))
