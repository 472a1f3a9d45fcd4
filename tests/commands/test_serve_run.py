"""`tether serve`, `tether run` and `tether --version` as subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tether.testing import InProcessSidecar

TETHER = [sys.executable, "-m", "tether"]


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TETHER_HOME"] = str(home)
    for key in ("DAPR_API_TOKEN", "DAPR_GRPC_ENDPOINT", "TETHER_STORE", "APP_ID"):
        env.pop(key, None)
    return env


def test_version_from_script_and_module() -> None:
    out = subprocess.run([*TETHER, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("tether ")
    script = Path(sys.executable).parent / "tether"
    out2 = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out2.stdout == out.stdout


def test_serve_on_free_ports_logs_them_and_stops_gracefully(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*TETHER, "serve", "--app-id", "svc", "--grpc-port", "0", "--http-port", "0"],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_dir = tmp_path / "run"
        entry = wait_until(
            lambda: next(iter(run_dir.glob("svc-*.json")), None) if run_dir.exists() else None
        )
        ports = json.loads(entry.read_text())
        assert ports["grpc_port"] > 0 and ports["http_port"] > 0
        health = httpx.get(f"http://127.0.0.1:{ports['http_port']}/v1.0/healthz")
        assert health.status_code == 204
        # The default store sits in the per-user folder.
        assert (tmp_path / "tether.db").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"gRPC on 127.0.0.1:{ports['grpc_port']}" in err
    assert not entry.exists()  # withdrawn from the registry on the way out


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--grpc-port", "70000"], ["grpc_port", "70000"]),
        (["--start-wait", "-1"], ["start_wait_seconds", "-1"]),
        (["--health-ping-interval", "0"], ["health_ping_seconds", "positive"]),
    ],
)
def test_serve_refuses_a_bad_setting_with_a_clear_message(
    tmp_path: Path, flags: list[str], named: list[str]
) -> None:
    out = subprocess.run(
        [*TETHER, "serve", *flags],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert all(word in out.stderr for word in named), out.stderr


APP = textwrap.dedent(
    """
    import os, sys
    import dapr.ext.workflow as wf

    wfr = wf.WorkflowRuntime()

    @wfr.workflow(name="hello")
    def hello(ctx, name):
        greeting = yield ctx.call_activity(greet, input=name)
        return greeting

    @wfr.activity(name="greet")
    def greet(ctx, name):
        return "hello " + name

    env = os.environ
    print("app", env["APP_ID"], "grpc", env["DAPR_GRPC_PORT"], "http", env["DAPR_HTTP_PORT"])
    wfr.start()
    client = wf.DaprWorkflowClient()
    mode = sys.argv[1]
    if mode == "start":
        client.schedule_new_workflow(hello, input="world", instance_id="kept")
        state = client.wait_for_workflow_completion("kept", timeout_in_seconds=30)
        print("output", state.serialized_output)
    else:
        state = client.get_workflow_state("kept")
        print("found", state.runtime_status.name, state.serialized_output)
    wfr.shutdown()
    sys.exit(7)
    """
)


def test_run_passes_output_through_and_exits_with_the_app_code(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    first = subprocess.run(
        [*TETHER, "run", "--app-id", "greeter", "--", sys.executable, str(app), "start"],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert first.returncode == 7, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("app greeter grpc ")
    assert 'output "hello world"' in lines
    assert "[tether]" in first.stderr and "[tether]" not in first.stdout

    # A second run on the default store sees the first run's state.
    second = subprocess.run(
        [*TETHER, "run", "--app-id", "greeter", "--", sys.executable, str(app), "look"],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert second.returncode == 7, second.stderr
    assert 'found COMPLETED "hello world"' in second.stdout.splitlines()


def test_run_without_a_command_says_how(tmp_path: Path) -> None:
    out = subprocess.run(
        [*TETHER, "run", "--app-id", "x"], env=env_for(tmp_path), capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "tether run -a myapp -- python3 app.py" in out.stderr


def test_in_process_sidecar_runs_sdk_workflows(tmp_path: Path) -> None:
    import dapr.ext.workflow as wf

    with InProcessSidecar(tmp_path / "inproc.db", app_id="inproc") as sidecar:
        runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port))

        @runtime.workflow(name="twice")
        def twice(ctx: wf.DaprWorkflowContext, x: int):  # type: ignore[no-untyped-def]
            y = yield ctx.call_activity(double, input=x)
            return y

        @runtime.activity(name="double")
        def double(ctx: wf.WorkflowActivityContext, x: int) -> int:
            return 2 * x

        runtime.start()
        try:
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
            instance_id = client.schedule_new_workflow(twice, input=21)
            state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
            assert state is not None and state.serialized_output == "42"
        finally:
            runtime.shutdown()
