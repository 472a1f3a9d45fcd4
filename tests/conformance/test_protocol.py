"""Protocol-level conformance: the test acts as the worker (engine-semantics §8 items 16 (late
result), 22-26, 28, 32).

Instances are started while no worker is connected, so StartInstance returns at once (it waits
for the first turn only when a worker could take it); the fake worker then connects and receives
the parked turn.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dapr.ext.workflow as wf

from tests.conformance._support import (
    FakeWorker,
    Raw,
    complete,
    create_timer,
    kinds,
    schedule_task,
    store_sql,
)
from tests.conftest import wait_until
from tether import pb


def _new_events(item: Any) -> list[str]:
    return kinds(list(item.workflowRequest.newEvents))


def _results(raw: Raw, instance_id: str) -> list[str]:
    return [
        e.taskCompleted.result.value
        for e in raw.history(instance_id)
        if e.HasField("taskCompleted")
    ]


def test_activity_redispatched_after_disconnect(sidecar: Any) -> None:
    """§8.22: the worker dies mid-activity → the activity goes out again with a new token; the old
    attempt's late result is accepted once and the new attempt's duplicate is ignored."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i22")
    first = FakeWorker(sidecar.grpc_port)
    first.respond(first.turn(), schedule_task(1, "act", '"x"'))
    old = first.activity()
    first.close()
    second = FakeWorker(sidecar.grpc_port)
    new = second.activity()
    assert new.completionToken != old.completionToken
    assert new.activityRequest.taskId == old.activityRequest.taskId == 1
    second.finish_activity(old, '"old attempt"')
    second.finish_activity(new, '"new attempt"')
    turn = second.turn()
    assert _new_events(turn).count("taskCompleted") == 1
    second.respond(turn, complete(2, '"done"'))
    wait_until(lambda: raw.status("i22") == "COMPLETED")
    assert _results(raw, "i22") == ['"old attempt"']
    second.close()
    raw.close()


def test_duplicate_activity_completion_ignored(sidecar: Any) -> None:
    """§8.23: a second CompleteActivityTask for the same task answers OK and is not recorded."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i23")
    worker = FakeWorker(sidecar.grpc_port)
    worker.respond(worker.turn(), schedule_task(1, "act"))
    item = worker.activity()
    worker.finish_activity(item, '"one"')
    worker.finish_activity(item, '"two"')
    failed = pb.ActivityResponse(instanceId="i23", taskId=1, completionToken=item.completionToken)
    failed.failureDetails.errorType = "Late"
    raw.call("CompleteActivityTask", failed)
    turn = worker.turn()
    assert _new_events(turn).count("taskCompleted") == 1
    worker.respond(turn, schedule_task(2, "act"))
    worker.finish_activity(worker.activity(), '"three"')
    worker.respond(worker.turn(), complete(3))
    wait_until(lambda: raw.status("i23") == "COMPLETED")
    assert _results(raw, "i23") == ['"one"', '"three"']
    assert "taskFailed" not in kinds(raw.history("i23"))
    worker.close()
    raw.close()


def test_turn_started_by_a_result_that_could_not_be_stored_is_withdrawn(sidecar: Any) -> None:
    """An activity result starts the next turn while its own commit is on the way. When that
    commit finds the task gone (here: deleted behind tether's back), the turn it started is
    withdrawn and the instance continues from what the store holds."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "ahead")
    worker = FakeWorker(sidecar.grpc_port)
    worker.respond(worker.turn(), schedule_task(1, "act"))
    item = worker.activity()
    store_sql(sidecar, "DELETE FROM tasks WHERE instance_id = 'ahead'")
    worker.finish_activity(item, '"lost"')
    turn = worker.turn()
    assert _new_events(turn) == ["workflowStarted", "taskCompleted"]  # sent ahead of the commit
    worker.respond(turn, complete(2, '"done"'))  # discarded: its input was never stored
    assert raw.status("ahead") == "RUNNING"
    assert kinds(raw.history("ahead")) == ["workflowStarted", "executionStarted", "taskScheduled"]
    worker.no_item(within=0.3)
    worker.close()
    raw.close()


def test_unknown_and_stale_completions_are_ok_noops(sidecar: Any) -> None:
    """§8.24: completions for an unknown instance, an unknown task or with a stale token answer OK
    and change nothing."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i24")
    worker = FakeWorker(sidecar.grpc_port)
    worker.respond(worker.turn(), schedule_task(1, "act"))
    item = worker.activity()
    before = raw.history("i24")
    raw.call(
        "CompleteActivityTask",
        pb.ActivityResponse(instanceId="nobody", taskId=1, completionToken="x"),
    )
    raw.call(
        "CompleteActivityTask",
        pb.ActivityResponse(instanceId="i24", taskId=99, completionToken="bogus"),
    )
    raw.call("CompleteActivityTask", pb.ActivityResponse(instanceId="i24", taskId=99))
    stale = pb.WorkflowResponse(instanceId="i24", completionToken="stale-token")
    stale.actions.append(complete(5, '"hijack"'))
    raw.call("CompleteOrchestratorTask", stale)
    raw.call("CompleteWorkflowTask", stale)
    nobody = pb.WorkflowResponse(instanceId="nobody", completionToken="x")
    raw.call("CompleteOrchestratorTask", nobody)
    worker.no_item(0.5)
    assert raw.history("i24") == before
    assert raw.status("i24") == "RUNNING"
    assert raw.state("nobody") is None
    worker.finish_activity(item, '"real"')
    worker.respond(worker.turn(), complete(2, '"ok"'))
    wait_until(lambda: raw.status("i24") == "COMPLETED")
    assert raw.state("i24").output.value == '"ok"'
    worker.close()
    raw.close()


def test_turn_redispatched_after_disconnect(sidecar: Any) -> None:
    """§8.25: the worker dies mid-turn → the turn goes out again with a new token; the old token's
    late response is discarded."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i25")
    first = FakeWorker(sidecar.grpc_port)
    old = first.turn()
    first.close()
    second = FakeWorker(sidecar.grpc_port)
    new = second.turn()
    assert new.completionToken != old.completionToken
    assert _new_events(new) == _new_events(old) == ["workflowStarted", "executionStarted"]
    second.respond(old, complete(1, '"stale"'))
    second.no_item(0.3)
    assert raw.status("i25") == "PENDING"
    second.respond(new, complete(1, '"fresh"'))
    wait_until(lambda: raw.status("i25") == "COMPLETED")
    assert raw.state("i25").output.value == '"fresh"'
    second.close()
    raw.close()


def test_late_result_from_old_generation_dropped(sidecar: Any) -> None:
    """§8.16 (late part): after continue-as-new the new generation reuses task ID 1; a late result
    of the old generation's task 1 must not complete the new one."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i16")
    worker = FakeWorker(sidecar.grpc_port)
    worker.respond(
        worker.turn(), schedule_task(1, "act", '"gen1"'), create_timer(2, time.time_ns())
    )
    items = [worker.next(), worker.next()]
    old = next(i for i in items if i.HasField("activityRequest"))
    fired = next(i for i in items if i.HasField("workflowRequest"))
    assert "timerFired" in _new_events(fired)
    worker.respond(fired, complete(3, '"next"', status=pb.CONTINUED_AS_NEW))
    gen2 = worker.turn()
    assert list(gen2.workflowRequest.pastEvents) == []
    assert _new_events(gen2) == ["workflowStarted", "executionStarted"]
    worker.respond(gen2, schedule_task(1, "act", '"gen2"'))
    new = worker.activity()
    assert new.activityRequest.taskId == old.activityRequest.taskId == 1
    worker.finish_activity(old, '"from gen1"')
    worker.no_item(0.5)
    worker.finish_activity(new, '"from gen2"')
    turn = worker.turn()
    completed = [e for e in turn.workflowRequest.newEvents if e.HasField("taskCompleted")]
    assert [e.taskCompleted.result.value for e in completed] == ['"from gen2"']
    worker.respond(turn, complete(2))
    wait_until(lambda: raw.status("i16") == "COMPLETED")
    assert raw.state("i16").input.value == '"next"'
    worker.close()
    raw.close()


def test_stateful_history_deltas_fake_worker(sidecar: Any) -> None:
    """§8.26 (server side): for a stream with capability 2, the first two turns are full sends,
    later ones deltas whose prefix length matches what the worker replayed last; the prefix plus
    the delta equals GetInstanceHistory; a reconnect starts cold again."""
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i26")
    worker = FakeWorker(
        sidecar.grpc_port, [pb.CAPABILITY_HEALTH_PING, pb.CAPABILITY_STATEFUL_HISTORY]
    )
    sent: list[Any] = []

    def step(event: str | None) -> Any:
        if event is not None:
            raw.call("RaiseEvent", pb.RaiseEventRequest(instanceId="i26", name=event))
        item = worker.turn()
        sent.append(item.workflowRequest)
        worker.respond(item)
        return item.workflowRequest

    t1, t2, t3 = step(None), step("a"), step("b")
    assert not t1.HasField("cachedHistory") and len(t1.pastEvents) == 0
    assert not t2.HasField("cachedHistory") and len(t2.pastEvents) == 2
    assert t3.HasField("cachedHistory") and t3.cachedHistory.eventCount == 2
    wait_until(lambda: len(raw.history("i26")) == 6)
    committed_before_t3 = raw.history("i26")[:4]
    assert list(t2.pastEvents) + list(t3.pastEvents) == committed_before_t3
    t4 = step("c")
    assert t4.cachedHistory.eventCount == 4 and len(t4.pastEvents) == 2
    worker.close()

    worker = FakeWorker(sidecar.grpc_port, [pb.CAPABILITY_STATEFUL_HISTORY])
    t5 = step("d")
    assert not t5.HasField("cachedHistory") and len(t5.pastEvents) == 8
    t6 = step("e")
    assert t6.HasField("cachedHistory") and t6.cachedHistory.eventCount == 8
    worker.close()

    plain = FakeWorker(sidecar.grpc_port)  # no capability: always full
    worker = plain
    for name in ("f", "g"):
        assert not step(name).HasField("cachedHistory")
    plain.close()
    raw.close()


def test_stateful_history_deltas_sdk(wf_runtime: Any, wf_client: Any) -> None:
    """§8.26 (SDK side): a 1.19 worker gets at most two full sends per instance and deltas after
    that, with no history fetch; a deliberately wrong cached prefix (we truncate the worker's
    cache) makes it fetch GetInstanceHistory once and still complete. Counted by wrapping the
    SDK's own ``_resolve_history``."""
    runtime = wf_runtime()
    worker = runtime._WorkflowRuntime__worker
    counts = {"full": 0, "delta": 0, "fetch": 0}
    corrupt = threading.Event()
    original = worker._resolve_history

    def resolve(req: Any) -> Any:
        if not req.HasField("cachedHistory"):
            counts["full"] += 1
        else:
            counts["delta"] += 1
            if corrupt.is_set():
                corrupt.clear()
                cached = worker._history_cache.get(req.instanceId)
                worker._history_cache.put(req.instanceId, cached[:-1])
            cached = worker._history_cache.get(req.instanceId)
            if cached is None or len(cached) != req.cachedHistory.eventCount:
                counts["fetch"] += 1
        return original(req)

    worker._resolve_history = resolve

    @runtime.workflow(name="long_chain")
    def long_chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        total = 0
        for i in range(n):
            total += yield ctx.call_activity(one, input=i)
        return total

    @runtime.activity(name="one")
    def one(ctx: wf.WorkflowActivityContext, i: int) -> int:
        return 1

    runtime.start()
    instance_id = wf_client.schedule_new_workflow(long_chain, input=6)
    assert (
        wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30).serialized_output
        == "6"
    )
    assert counts["full"] <= 2 and counts["delta"] > 0 and counts["fetch"] == 0, counts

    counts.update(full=0, delta=0, fetch=0)
    corrupt.set()
    instance_id = wf_client.schedule_new_workflow(long_chain, input=6)
    assert (
        wf_client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30).serialized_output
        == "6"
    )
    assert counts["fetch"] == 1, counts


def test_idle_stream_survives_aggressive_keepalive(sidecar: Any) -> None:
    """§8.28: an idle worker stream must survive 10+ minutes. What tears an idle stream down in
    practice is the server's HTTP/2 ping policy: the SDK pings every 30 s even without calls, and a
    stock grpcio server answers with GOAWAY ``too_many_pings``. Instead of idling for 10 minutes we
    compress time: a client channel pinging every second (30x the SDK's rate, without calls too)
    holds an idle GetWorkItems stream for 5 s — a server with the default ping policy drops it
    within a few pings — and the stream must still be open and deliver work afterwards."""
    options = [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_timeout_ms", 5000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    worker = FakeWorker(sidecar.grpc_port, options=options)
    assert not worker.ended.wait(5.0), "the idle stream was torn down"
    raw = Raw(sidecar.grpc_port)
    raw.start("wf", "i28")
    item = worker.turn(timeout=10)
    worker.respond(item, complete(1, '"alive"'))
    wait_until(lambda: raw.status("i28") == "COMPLETED")
    assert not worker.ended.is_set()
    worker.close()
    raw.close()


def test_list_instance_ids_paging_raw(sidecar: Any) -> None:
    """§8.32: page size 2 over 5 instances → 3 pages; the last page has no continuation token
    (absent, not empty)."""
    raw = Raw(sidecar.grpc_port)
    for i in range(5):
        raw.start("wf", f"page-{i}")
    pages: list[Any] = []
    request = pb.ListInstanceIDsRequest(pageSize=2)
    while True:
        page = raw.call("ListInstanceIDs", request)
        pages.append(page)
        if not page.HasField("continuationToken"):
            break
        request = pb.ListInstanceIDsRequest(pageSize=2, continuationToken=page.continuationToken)
    assert [len(p.instanceIds) for p in pages] == [2, 2, 1]
    assert sorted(i for p in pages for i in p.instanceIds) == [f"page-{i}" for i in range(5)]
    whole = raw.call("ListInstanceIDs", pb.ListInstanceIDsRequest())
    assert len(whole.instanceIds) == 5 and not whole.HasField("continuationToken")
    raw.close()
