"""Times outside the store's signed 64-bit ns range (1677-2262) but inside protobuf's (years
1-9999): a timer centuries away is simply pending, a start time in year 1 is in the past, and a
timestamp protobuf itself forbids is refused with INVALID_ARGUMENT (400 over HTTP)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf
import grpc
import httpx

from tests.conformance._support import FakeWorker, Raw, complete, create_timer, kinds, rpc_error
from tests.conftest import wait_until
from tether import pb
from tether.testing import SidecarProcess

W = wf.WorkflowStatus
YEAR_9999_END = 253_402_300_799  # 9999-12-31T23:59:59Z, also Dapr's indefinite-wait sentinel


def test_a_timer_three_centuries_away_is_pending_and_terminable(
    sidecar: SidecarProcess, wf_runtime: Any, wf_client: wf.DaprWorkflowClient
) -> None:
    runtime = wf_runtime()

    @runtime.workflow(name="far_timer")
    def far_timer(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.create_timer(timedelta(days=365 * 300))
        return "fired"

    runtime.start()
    # The start waits for the first turn, whose commit arms the timer.
    instance_id = wf_client.schedule_new_workflow(far_timer)
    raw = Raw(sidecar.grpc_port)
    try:
        wait_until(lambda: "timerCreated" in kinds(raw.history(instance_id)))
        assert raw.status(instance_id) == "RUNNING"
        wf_client.terminate_workflow(instance_id, output="stop")
        state = wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state is not None and state.runtime_status == W.TERMINATED
    finally:
        raw.close()


def test_timers_at_both_ends_of_the_protobuf_range(sidecar: SidecarProcess) -> None:
    worker = FakeWorker(sidecar.grpc_port)
    raw = Raw(sidecar.grpc_port)
    try:
        raw.start("w", "ends")
        worker.respond(
            worker.turn(),
            create_timer(1, YEAR_9999_END * 10**9 + 999_999_999),  # the last instant of 9999
            create_timer(2, -62_135_596_800 * 10**9),  # 0001-01-01: already due
        )
        item = worker.turn()  # only the year-1 timer fires
        events = item.workflowRequest.newEvents
        fired = [e.timerFired.timerId for e in events if e.HasField("timerFired")]
        assert fired == [2]
        worker.respond(item, complete(3, '"done"'))
        wait_until(lambda: raw.status("ends") == "COMPLETED")
    finally:
        worker.close()
        raw.close()


def test_far_scheduled_start_is_pending_and_out_of_range_ones_are_refused(
    sidecar: SidecarProcess,
) -> None:
    raw = Raw(sidecar.grpc_port)
    try:
        far = pb.CreateInstanceRequest(name="w", instanceId="far")
        far.scheduledStartTimestamp.seconds = YEAR_9999_END
        raw.call("StartInstance", far)
        assert raw.status("far") == "PENDING"
        raw.call("TerminateInstance", pb.TerminateRequest(instanceId="far"))
        wait_until(lambda: raw.status("far") == "TERMINATED")

        for seconds, nanos in ((YEAR_9999_END + 1, 0), (-62_135_596_801, 0), (0, -1), (0, 10**9)):
            bad = pb.CreateInstanceRequest(name="w", instanceId="bad")
            bad.scheduledStartTimestamp.seconds = seconds
            bad.scheduledStartTimestamp.nanos = nanos
            err = rpc_error(lambda r=bad: raw.call("StartInstance", r))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
            assert "scheduledStartTimestamp" in (err.details() or "")
        assert raw.state("bad") is None

        purge = pb.PurgeInstancesRequest()
        purge.purgeInstanceFilter.createdTimeFrom.seconds = 10**15
        err = rpc_error(lambda: raw.call("PurgeInstances", purge))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "createdTimeFrom" in (err.details() or "")
        # Bounds inside protobuf's range but outside the store's still work.
        ok = pb.PurgeInstancesRequest()
        ok.purgeInstanceFilter.createdTimeFrom.seconds = -62_135_596_800
        ok.purgeInstanceFilter.createdTimeTo.seconds = YEAR_9999_END
        ok.purgeInstanceFilter.runtimeStatus.append(pb.TERMINATED)
        assert raw.call("PurgeInstances", ok).deletedInstanceCount == 1
    finally:
        raw.close()

    with httpx.Client(base_url=f"http://127.0.0.1:{sidecar.http_port}", timeout=30) as http:
        r = http.post("/tether/v1/purge", json={"createdAfter": "10000-01-01T00:00:00Z"})
        assert r.status_code == 400, r.text
        r = http.post(
            "/tether/v1/purge",
            json={"createdAfter": "0001-01-01T00:00:00Z", "createdBefore": "9999-12-31T23:59:59Z"},
        )
        assert r.status_code == 200, r.text
        r = http.get("/tether/v1/instances", params={"createdAfter": "0001-01-01T00:00:00Z"})
        assert r.status_code == 200, r.text
