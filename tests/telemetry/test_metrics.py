"""``GET /metrics`` of a real ``tether serve`` during and after a known workload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dapr.ext.workflow as wf
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until
from tests.telemetry.test_otlp_export import ROOT, worker
from tether.testing import SidecarProcess

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, headers: dict[str, str] | None = None) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            # The parser names every counter sample ``*_total``; Dapr's counters (and so
            # tether's copies, as the text shows) are named ``*_count`` without the suffix.
            name = sample.name
            if family.type == "counter" and f"\n{name}{{" not in response.text:
                name = family.name
            samples[(name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[SidecarProcess]:
    sidecar = SidecarProcess(tmp_path / "tether.db").start()
    app = worker(sidecar)
    try:
        yield sidecar
    finally:
        assert app.stdin is not None
        app.stdin.close()
        app.wait(20)
        sidecar.stop()


def test_metrics_count_a_known_workload(served: SidecarProcess) -> None:
    port = served.http_port
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(served.grpc_port))
    wait_until(lambda: value(scrape(port), "tether_workers_connected") == 1)

    # During: one instance waits for an event, one start is scheduled for later.
    client.schedule_new_workflow("waiter", instance_id="waiting")
    client.wait_for_workflow_start("waiting", timeout_in_seconds=30)
    later = datetime.now(UTC) + timedelta(hours=1)
    client.schedule_new_workflow("chain", input=1, instance_id="later", start_at=later)
    during = scrape(port)
    assert value(during, "tether_instances", status="RUNNING") == 1
    assert value(during, "tether_instances", status="PENDING") == 1
    assert value(during, "tether_inbox_waiting", app_id="testapp") == 1
    assert value(during, "tether_inbox_depth") == 0
    assert value(during, "tether_worker_inflight") == 0

    for i in range(3):
        client.schedule_new_workflow("chain", input=i, instance_id=f"chain-{i}")
    client.schedule_new_workflow("failing", instance_id="failing")
    client.schedule_new_workflow("retrying", instance_id="retrying")
    client.raise_workflow_event("waiting", "go", data=1)
    for iid in ["chain-0", "chain-1", "chain-2", "failing", "retrying", "waiting"]:
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    client.purge_workflow("failing")
    assert client.get_workflow_state("chain-0") is not None

    after = scrape(port)
    d = "dapr_runtime_workflow_"
    assert value(after, f"{d}execution_count", workflow_name="chain", status="success") == 3
    assert value(after, f"{d}execution_count", workflow_name="failing", status="failed") == 1
    assert value(after, f"{d}execution_count", workflow_name="waiter", status="success") == 1
    assert value(after, f"{d}execution_latency_count", workflow_name="chain") == 3
    assert value(after, f"{d}execution_latency_sum", workflow_name="chain") > 0
    assert value(after, f"{d}scheduling_latency_count", workflow_name="chain") == 3
    assert value(after, f"{d}activity_execution_count", activity_name="step", status="success") == 6
    assert value(after, f"{d}activity_execution_count", activity_name="flaky", status="failed") == 2
    assert (
        value(after, f"{d}activity_execution_count", activity_name="flaky", status="success") == 1
    )
    assert value(after, f"{d}activity_execution_latency_count", activity_name="step") == 6
    assert value(after, f"{d}activity_operation_count", activity_name="flaky") == 3
    assert value(after, f"{d}operation_count", operation="create_workflow", status="success") == 7
    assert value(after, f"{d}operation_count", operation="add_event", status="success") == 1
    assert value(after, f"{d}operation_count", operation="purge_workflow", status="success") == 1
    assert value(after, f"{d}operation_latency_count", operation="create_workflow") == 7
    assert value(after, f"{d}operation_count", operation="get_workflow", status="success") == 1

    # Histograms moved between the two scrapes.
    for name in (
        "tether_turn_latency_seconds_count",
        "tether_store_commit_latency_seconds_count",
        "tether_store_commit_batch_size_count",
    ):
        assert value(after, name) > value(during, name) > 0
    assert value(after, "tether_instances", status="COMPLETED") == 5  # failing was purged
    assert value(after, "tether_instances", status="PENDING") == 1
    assert value(after, "tether_activities_pending") == 0
    assert value(after, "tether_instance_state_changes_total", status="COMPLETED") == 5
    assert value(after, "tether_instance_state_changes_total", status="FAILED") == 1

    # Every series the shipped Grafana dashboard queries exists.
    dashboard = (ROOT / "docs" / "grafana-tether.json").read_text()
    queried = set(re.findall(r"\b(?:tether|dapr_runtime_workflow)_[a-z_]+", dashboard))
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    families = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    exposed = {name for name, _ in families}
    exposed |= {
        f"{n}_{s}"
        for n, kind in families
        if kind == "histogram"
        for s in ("bucket", "sum", "count")
    }
    assert queried and queried <= exposed, queried - exposed


def test_metrics_are_behind_the_api_token_unless_opened_on_their_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    sidecar = SidecarProcess(
        tmp_path / "tether.db",
        extra_args=["--api-token", "sesame", "--metrics-port", str(metrics_port), "--metrics-open"],
    ).start()
    try:
        main = f"http://127.0.0.1:{sidecar.http_port}/metrics"
        assert httpx.get(main).status_code == 401
        assert scrape(sidecar.http_port, {"dapr-api-token": "sesame"})
        opened = scrape(metrics_port)
        assert value(opened, "tether_workers_connected") == 0
    finally:
        sidecar.stop()
    closed = SidecarProcess(
        tmp_path / "tether2.db",
        app_id="closed",
        extra_args=["--api-token", "sesame", "--metrics-port", str(metrics_port)],
    ).start()
    try:
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").status_code == 401
        assert scrape(metrics_port, {"dapr-api-token": "sesame"})
    finally:
        closed.stop()


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path / "tether.db", extra_args=["--enable-metrics", "false"])
    sidecar.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{sidecar.http_port}/metrics").status_code == 404
    finally:
        sidecar.stop()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--tracing-sampling-rate", "2"], ["tracing_sampling_rate", "between 0 and 1"]),
        (["--metrics-port", "70000"], ["metrics_port", "70000"]),
        (["--enable-metrics", "maybe"], ["--enable-metrics", "true or false"]),
    ],
)
def test_bad_telemetry_flags_are_refused_with_a_clear_message(
    tmp_path: Path, flags: list[str], named: list[str]
) -> None:
    import subprocess
    import sys

    env = SidecarProcess(tmp_path / "t.db").base_env()
    out = subprocess.run(
        [sys.executable, "-m", "tether", "serve", "--store", f"sqlite:///{tmp_path}/t.db", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert all(word in out.stderr for word in named), out.stderr
