"""The pure parts of telemetry: trace context, spans from a history, the exposition format."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from tether import log as tether_log
from tether import pb
from tether.core.events import to_timestamp
from tether.core.turns import build_execution_started
from tether.telemetry.context import (
    derived_trace_id,
    execution_trace,
    parse_traceparent,
    sampled_by_rate,
    span_id,
)
from tether.telemetry.metrics import Counter, GaugeSample, Histogram, render
from tether.telemetry.spans import build_spans

MS = 1_000_000


def _event(ts: int, event_id: int = -1) -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=event_id)
    event.timestamp.CopyFrom(to_timestamp(ts))
    return event


def _history(trace: object | None = None) -> list[object]:
    started = build_execution_started(1000 * MS, "wf", "i-1", None, source_app="a", trace=trace)
    turn = _event(1001 * MS)
    turn.workflowStarted.SetInParent()
    scheduled = _event(1002 * MS, 1)
    scheduled.taskScheduled.name = "act"
    turn2 = _event(1010 * MS)
    turn2.workflowStarted.SetInParent()
    failed = _event(1009 * MS)
    failed.taskFailed.taskScheduledId = 1
    failed.taskFailed.failureDetails.errorType = "ValueError"
    failed.taskFailed.failureDetails.errorMessage = "bad"
    done = _event(1011 * MS)
    done.executionCompleted.workflowStatus = pb.FAILED
    done.executionCompleted.failureDetails.errorMessage = "bad"
    return [turn, started, scheduled, turn2, failed, done]


def test_traceparent_parsing_follows_w3c() -> None:
    good = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert good is not None and good.sampled
    assert good.header() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for bad in [
        "",
        "garbage",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    ]:
        assert parse_traceparent(bad) is None


def test_sampling_is_a_stable_function_of_the_trace_id() -> None:
    ids = [derived_trace_id(f"i-{n}", "e") for n in range(2000)]
    kept = [t for t in ids if sampled_by_rate(t, 0.25)]
    assert 350 < len(kept) < 650
    assert kept == [t for t in ids if sampled_by_rate(t, 0.25)]
    assert all(sampled_by_rate(t, 1.0) for t in ids)
    assert not any(sampled_by_rate(t, 0.0) for t in ids)


def test_spans_from_one_history_are_the_same_every_time() -> None:
    history = _history()
    first = build_spans(history, "a", 1.0, 0, pb.RUNNING)
    again = build_spans(
        [pb.HistoryEvent.FromString(e.SerializeToString()) for e in history],
        "a",
        1.0,
        0,
        pb.RUNNING,
    )
    assert first == again
    root, activity = first
    started = history[1]
    trace = execution_trace(started, 1.0)
    assert (root.trace_id, root.span_id, root.parent_id) == (trace.trace_id, trace.span_id, None)
    assert root.error == "bad" and root.attributes["workflow.status"] == "FAILED"
    assert (root.start_ns, root.end_ns) == (1000 * MS, 1011 * MS)
    execution_id = started.executionStarted.workflowInstance.executionId.value
    assert activity.span_id == span_id("i-1", execution_id, "activity", 1)
    assert activity.parent_id == root.span_id
    assert (activity.start_ns, activity.end_ns) == (1002 * MS, 1009 * MS)
    assert activity.error == "ValueError: bad"


def test_a_callers_unsampled_flag_is_kept() -> None:
    ctx = pb.TraceContext(traceParent=f"00-{5:032x}-{6:016x}-00")
    assert build_spans(_history(ctx), "a", 1.0, 0, pb.RUNNING) == []
    ctx.traceParent = f"00-{5:032x}-{6:016x}-01"
    root = build_spans(_history(ctx), "a", 0.0, 0, pb.RUNNING)[0]
    assert (root.trace_id, root.parent_id) == (5, 6)


def test_exposition_parses_and_escapes_labels() -> None:
    counter = Counter("c_count", "a counter", ("name",))
    counter.inc('we"ird\\name\n')
    histogram = Histogram("h_seconds", "a histogram", ("app_id",), buckets=(0.1, 1.0))
    histogram.observe(0.05, "a")
    histogram.observe(5.0, "a")
    gauge = GaugeSample("g", "a gauge", ("app_id",), [(("a",), 3.0)])
    families = {
        f.name: f for f in text_string_to_metric_families(render([counter, histogram], [gauge]))
    }
    assert families["c_count"].samples[0].labels["name"] == 'we"ird\\name\n'
    buckets = {
        s.labels.get("le"): s.value
        for s in families["h_seconds"].samples
        if s.name == "h_seconds_bucket"
    }
    assert buckets == {"0.1": 1, "1": 1, "+Inf": 2}
    assert families["g"].samples[0].value == 3.0


def test_instance_log_records_carry_their_ids_in_json_and_text() -> None:
    root = logging.getLogger("tether")
    saved = (list(root.handlers), root.level, root.propagate)
    try:
        _check_instance_fields()
    finally:
        root.handlers[:], root.level, root.propagate = saved


def _check_instance_fields() -> None:
    for as_json in (True, False):
        out = io.StringIO()
        tether_log.configure("info", as_json=as_json, stream=out)
        logging.getLogger("tether.instance").info(
            "changed", extra={"instance_id": "i-1", "app_id": "a", "trace_id": "ab" * 16}
        )
        line = out.getvalue().strip()
        if as_json:
            body = json.loads(line)
            assert (body["instance_id"], body["app_id"], body["trace_id"]) == (
                "i-1",
                "a",
                "ab" * 16,
            )
        else:
            assert line.endswith(f"instance_id=i-1 app_id=a trace_id={'ab' * 16}")
