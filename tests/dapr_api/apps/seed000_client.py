"""Seed 000's management calls through ``DaprClient`` of the Python SDK 1.17 (the runtime gRPC API).

Runs in its own virtualenv with ``dapr==1.17.5``; the workflows run in a separate worker. It follows
the SDK's demo_workflow example, polling where the example sleeps, and prints one line per step.
"""

from __future__ import annotations

import sys
import time
import warnings

from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprInternalError

warnings.simplefilter("ignore")  # the SDK warns that these calls are deprecated

instance_id = "exampleInstanceID"
child_instance_id = "childInstanceID"
workflow_component = "dapr"
workflow_name = "hello_world_wf"
input_data = "Hi Counter!"
workflow_options = {"task_queue": "testQueue"}
non_existent_id_error = "no such instance exists"


def status(d: DaprClient, iid: str) -> str:
    return str(
        d.get_workflow(instance_id=iid, workflow_component=workflow_component).runtime_status
    )


def poll(d: DaprClient, iid: str, wanted: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            current = status(d, iid)
        except DaprInternalError as err:
            current = f"error: {err._message}"
        if wanted in current or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


def purged(d: DaprClient) -> None:
    try:
        d.get_workflow(instance_id=instance_id, workflow_component=workflow_component)
    except DaprInternalError as err:
        if non_existent_id_error in err._message:
            print("Instance Successfully Purged", flush=True)


def start(d: DaprClient) -> None:
    resp = d.start_workflow(
        instance_id=instance_id,
        workflow_component=workflow_component,
        workflow_name=workflow_name,
        input=input_data,
        workflow_options=workflow_options,
    )
    print(f"start_resp {resp.instance_id}", flush=True)
    # The workflow reaches its child waiting for 'event1'.
    poll(d, child_instance_id, "Running")


def main() -> None:
    with DaprClient() as d:
        start(d)
        d.pause_workflow(instance_id=instance_id, workflow_component=workflow_component)
        got = poll(d, instance_id, "Suspended")
        print(f"Get response from {workflow_name} after pause call: {got}", flush=True)
        d.resume_workflow(instance_id=instance_id, workflow_component=workflow_component)
        got = poll(d, instance_id, "Running")
        print(f"Get response from {workflow_name} after resume call: {got}", flush=True)
        d.raise_workflow_event(
            instance_id=child_instance_id,
            workflow_component=workflow_component,
            event_name="event1",
            event_data="eventData",
        )
        got = poll(d, instance_id, "Completed")
        print(f"Get response from {workflow_name} after the event: {got}", flush=True)
        d.purge_workflow(instance_id=instance_id, workflow_component=workflow_component)
        purged(d)

        # The same ID again, after the purge.
        start(d)
        d.terminate_workflow(instance_id=instance_id, workflow_component=workflow_component)
        got = poll(d, instance_id, "Terminated")
        print(f"Get response from {workflow_name} after terminate call: {got}", flush=True)
        got = poll(d, child_instance_id, "Terminated")
        print(f"Get response from child_wf after terminate call: {got}", flush=True)
        d.purge_workflow(instance_id=instance_id, workflow_component=workflow_component)
        purged(d)
        try:
            d.terminate_workflow(instance_id="nosuch", workflow_component=workflow_component)
        except DaprInternalError as err:
            print(f"terminate unknown: {err._message}", flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
