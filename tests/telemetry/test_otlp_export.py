"""A real ``tether serve`` exports spans over OTLP to a receiver of the test's own; the worker app,
with OpenTelemetry installed, exports the SDK's activity spans to another: both join one trace."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import pytest

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tether import pb
from tether.testing import SidecarProcess
from tether.testing.otlp import GrpcReceiver, HttpReceiver, ReceivedSpan, Receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_spans() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.stop()


def _tether_receiver(protocol: str) -> Receiver:
    return GrpcReceiver() if protocol == "grpc" else HttpReceiver()


def worker(sidecar: SidecarProcess, *endpoint: str) -> subprocess.Popen[str]:
    """The worker app of tests.telemetry.workflows in its own process, once it is connected."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.workflows", str(sidecar.grpc_port), *endpoint],
        cwd=ROOT,
        env=sidecar.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _of(spans: list[ReceivedSpan], instance_id: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.attributes.get("workflow.instance_id") == instance_id]


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_span_tree_of_a_workload_reaches_an_otlp_receiver(
    tmp_path: Path, protocol: str, app_spans: HttpReceiver
) -> None:
    receiver = _tether_receiver(protocol)
    sidecar = SidecarProcess(
        tmp_path / "tether.db",
        extra_args=["--tracing-endpoint", receiver.endpoint, "--tracing-protocol", protocol],
        env={"OTEL_BSP_SCHEDULE_DELAY": "50"},
    ).start()
    app = worker(sidecar, app_spans.endpoint)
    try:
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
        ids = {
            name: client.schedule_new_workflow(name, input=value, instance_id=f"{name}-1")
            for name, value in [
                ("chain", 1),
                ("fanout", 3),
                ("parent", 1),
                ("retrying", None),
                ("sleeper", None),
            ]
        }
        caller_trace, caller_span = 0xABCDEF0123456789ABCDEF0123456789, 0x1122334455667788
        request = pb.CreateInstanceRequest(name="chain", instanceId="joined")
        request.input.value = "1"
        request.parentTraceContext.traceParent = f"00-{caller_trace:032x}-{caller_span:016x}-01"
        Raw(sidecar.grpc_port).call("StartInstance", request)
        for iid in [*ids.values(), "joined", "parent-1-c"]:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            assert state is not None and state.runtime_status == wf.WorkflowStatus.COMPLETED

        expected_roots = len(ids) + 2
        wait_until(
            lambda: (
                len([s for s in receiver.spans() if s.name.startswith("workflow||")])
                >= expected_roots
            )
        )
        got = receiver.spans()
        assert {s.service for s in got} == {"testapp"}

        chain = _of(got, "chain-1")
        root = _one(chain, "workflow||chain")
        assert root.parent_id is None
        steps = [s for s in chain if s.name == "activity||step"]
        assert len(steps) == 2 and {s.parent_id for s in steps} == {root.span_id}

        fan = _of(got, "fanout-1")
        fan_root = _one(fan, "workflow||fanout")
        assert [s.parent_id for s in fan if s.name == "activity||step"] == [fan_root.span_id] * 3

        parent = _of(got, "parent-1")
        call = _one(parent, "child_workflow||chain")
        child = _one(_of(got, "parent-1-c"), "workflow||chain")
        assert call.parent_id == _one(parent, "workflow||parent").span_id
        assert child.parent_id == call.span_id and child.trace_id == call.trace_id

        attempts = [s for s in _of(got, "retrying-1") if s.name == "activity||flaky"]
        assert sorted(s.attributes["workflow.activity.attempt"] for s in attempts) == [1, 2, 3]
        assert sum(s.error for s in attempts) == 2

        sleeper = _of(got, "sleeper-1")
        assert _one(sleeper, "timer").parent_id == _one(sleeper, "workflow||sleeper").span_id

        joined = _one(_of(got, "joined"), "workflow||chain")
        assert (joined.trace_id, joined.parent_id) == (caller_trace, caller_span)

        # The SDK worker's activity spans (exported by the app) hang under tether's.
        tether_activities = {s.span_id: s for s in got if s.name.startswith("activity||")}
        wait_until(
            lambda: (
                len([s for s in app_spans.spans() if s.name.startswith("activity: ")])
                >= len(tether_activities)
            )
        )
        for sdk_span in (s for s in app_spans.spans() if s.name.startswith("activity: ")):
            assert sdk_span.service == "telemetry-app"
            ours = tether_activities[sdk_span.parent_id or 0]
            assert sdk_span.trace_id == ours.trace_id
            assert sdk_span.name == "activity: " + ours.name.split("||", 1)[1]
    finally:
        assert app.stdin is not None
        app.stdin.close()
        app.wait(20)
        sidecar.stop()
        receiver.stop()


def test_tracing_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    """Without an endpoint, a serving tether never imports the OpenTelemetry SDK or an exporter
    (no cost when off). The dapr SDK itself imports the OpenTelemetry API when it is installed."""
    script = (
        "import sys, asyncio\n"
        "from tether.settings import Settings\n"
        "from tether.sidecar import Sidecar\n"
        "async def main():\n"
        f"    s = Sidecar(Settings(grpc_port=0, http_port=0, store_url='sqlite:///{tmp_path}/x.db'),"
        " announce=False)\n"
        "    await s.start(); await s.stop()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.exporter', 'tether.telemetry.otel'))))\n"
    )
    env: dict[str, Any] = {
        k: v
        for k, v in SidecarProcess(tmp_path / "y.db").base_env().items()
        if not k.startswith("OTEL_")
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_tether_killed_mid_workflow_is_traced_whole_by_the_next_one(
    tmp_path: Path, app_spans: HttpReceiver
) -> None:
    """SIGKILL between two activities: the next tether on the store exports the execution's
    spans from the stored history, with the span id the dead one handed the first activity."""
    receiver = GrpcReceiver()
    args = ["--tracing-endpoint", receiver.endpoint, "--tracing-protocol", "grpc"]
    env = {"OTEL_BSP_SCHEDULE_DELAY": "50"}
    first = SidecarProcess(tmp_path / "tether.db", extra_args=args, env=env).start()
    sidecars = [first]
    apps = [worker(first, app_spans.endpoint)]
    try:
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(first.grpc_port))
        client.schedule_new_workflow("paused", input=1, instance_id="killed")
        raw = Raw(first.grpc_port)
        wait_until(lambda: any(e.HasField("taskCompleted") for e in raw.history("killed")))
        first.kill()

        second = SidecarProcess(tmp_path / "tether.db", extra_args=args, env=env).start()
        sidecars.append(second)
        apps.append(worker(second, app_spans.endpoint))
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(second.grpc_port))
        client.raise_workflow_event("killed", "go")
        state = client.wait_for_workflow_completion("killed", timeout_in_seconds=30)
        assert state is not None and state.serialized_output == "3"
        wait_until(lambda: any(s.name == "workflow||paused" for s in receiver.spans()))
        ours = _of(receiver.spans(), "killed")
        steps = {s.span_id: s for s in ours if s.name == "activity||step"}
        assert len(steps) == 2
        assert {s.parent_id for s in steps.values()} == {_one(ours, "workflow||paused").span_id}
        wait_until(lambda: len([s for s in app_spans.spans() if s.parent_id in steps]) == 2)
        for sdk_span in (s for s in app_spans.spans() if s.parent_id in steps):
            assert sdk_span.trace_id == steps[sdk_span.parent_id or 0].trace_id
    finally:
        for app in apps:
            assert app.stdin is not None
            app.stdin.close()
            app.kill()
            app.wait(20)
        for sidecar in sidecars:
            sidecar.stop()
        receiver.stop()


def test_tracing_without_opentelemetry_installed(tmp_path: Path) -> None:
    """Asked by a flag, tracing without tether[otel] is refused naming the extra; asked only by
    $OTEL_EXPORTER_OTLP_ENDPOINT (perhaps meant for the app), tether serves without it."""
    script = (
        "import sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if tether[otel] were not installed\n"
        "from tether.errors import ConfigError\n"
        "from tether.settings import Settings\n"
        "from tether.store import open_store\n"
        "from tether.telemetry import build_observer\n"
        f"url = 'sqlite:///{tmp_path}/x.db'\n"
        "store = open_store(url)\n"
        "print(type(build_observer(Settings(store_url=url), store)).__name__)\n"
        "try:\n"
        "    asked = Settings(store_url=url, tracing_endpoint='http://127.0.0.1:9')\n"
        "    build_observer(asked, store)\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    env = dict(
        SidecarProcess(tmp_path / "y.db").base_env(),
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "Telemetry"
    assert "not exporting spans" in out.stderr
    assert "pip install 'tether[otel]'" in lines[1]
