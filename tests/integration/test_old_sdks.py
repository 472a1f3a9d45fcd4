"""Older Python SDKs against a ``tether serve`` subprocess, each in its own virtualenv.

* ``durabletask-dapr`` 0.17.4: the old message names (``Orchestrator*``), capabilities in field 10,
  health ping in WorkItem field 4.
* ``dapr-ext-workflow`` 1.18.3: new names, but no capabilities at all, and its receive loop tears
  the stream down on any WorkItem other than a workflow or activity request -- so it must never get
  a ``healthPing`` (nor ``cachedHistory`` deltas, which it would silently ignore and then replay a
  truncated history).

The virtualenvs are created once (``python -m venv`` + ``pip install`` of the pinned version) and
cached under ``<repo>/.test-venvs/``. These SDKs are never installed into the project's own venv:
``dapr-ext-workflow`` would overwrite the newer SDK shipped inside ``dapr``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import APPS, count_in
from tether.testing import SidecarProcess

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("TETHER_TEST_VENVS", REPO / ".test-venvs"))
SCRIPT = APPS / "old_sdk_smoke.py"
CONNECTED = "connected (capabilities"
PING_SECONDS = "0.5"  # pings every half second to any stream that asked for them

SDKS = {
    "durabletask": ("durabletask-0.17.4", ["durabletask-dapr==0.17.4"]),
    "dapr-ext": ("dapr-ext-workflow-1.18.3", ["dapr-ext-workflow==1.18.3"]),
}
PROTO_1_18_3 = "7d7391e4044252f4abcf55b17634a65de744f4ee"


def _venv_python(name: str, requirements: list[str]) -> Path:
    """Create (once) a virtualenv with ``requirements`` and return its interpreter."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    ready = venv / ".tether-ready"
    if ready.exists() and ready.read_text().split() == requirements and python.exists():
        return python
    VENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *requirements], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"cannot install {requirements} (no package index?): {result.stderr[-500:]}")
    ready.write_text(" ".join(requirements))
    return python


@pytest.fixture(scope="session")
def old_sdk_pythons() -> dict[str, Path]:
    return {flavour: _venv_python(name, reqs) for flavour, (name, reqs) in SDKS.items()}


@pytest.fixture
def pinging_sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    proc = SidecarProcess(
        tmp_path / "tether.db", app_id="oldsdk", env={"TETHER_HEALTH_PING_SECONDS": PING_SECONDS}
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def _run(python: Path, flavour: str, sidecar: SidecarProcess, tmp_path: Path) -> dict[str, object]:
    env = sidecar.env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), str(SCRIPT), flavour, str(sidecar.grpc_port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (tmp_path / f"{flavour}.out").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _check_scenarios(out: dict[str, object]) -> None:
    assert out["chain"] == {"status": "COMPLETED", "output": "[6, 12, 24]"}
    assert out["event_before"] == "RUNNING"
    assert out["event"] == {"status": "COMPLETED", "output": '{"approved": "yes"}'}
    timer = out["timer"]
    assert isinstance(timer, dict)
    assert timer["status"] == "COMPLETED" and timer["output"] == '"woke"'
    assert timer["seconds"] >= 1.0
    assert out["read_status"] == {
        "status": "COMPLETED",
        "input": "3",
        "output": "[6, 12, 24]",
        "missing": True,
    }


def test_durabletask_dapr_0_17(
    old_sdk_pythons: dict[str, Path], pinging_sidecar: SidecarProcess, tmp_path: Path
) -> None:
    out = _run(old_sdk_pythons["durabletask"], "durabletask", pinging_sidecar, tmp_path)
    _check_scenarios(out)
    log = pinging_sidecar.log_path
    assert count_in(log, CONNECTED) == 1, "the worker's stream was torn down and reopened"


def test_dapr_ext_workflow_1_18_3(
    old_sdk_pythons: dict[str, Path], pinging_sidecar: SidecarProcess, tmp_path: Path
) -> None:
    python = old_sdk_pythons["dapr-ext"]
    # The venv really runs the 1.18.3 SDK (dapr 1.19's own copy is overwritten by the extension).
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.resources as r; "
            "print(r.files('dapr.ext.workflow._durabletask.internal')"
            ".joinpath('PROTO_SOURCE_COMMIT_HASH').read_text().strip())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == PROTO_1_18_3
    out = _run(python, "dapr-ext", pinging_sidecar, tmp_path)
    _check_scenarios(out)
    log = pinging_sidecar.log_path.read_text()
    # 1.18.3 advertises no capabilities, so it gets neither health pings (which would tear its
    # stream down: the sidecar would log a second connect) nor cachedHistory deltas (the chain's
    # later turns would then replay a truncated history and fail or produce a wrong output).
    assert log.count(CONNECTED) == 1, "the worker's stream was torn down and reopened"
    assert "connected (capabilities [])" in log
    worker_out = (tmp_path / "dapr-ext.out").read_text()
    assert "Unexpected work item" not in worker_out and "ValueError" not in worker_out


def test_health_pings_go_only_to_streams_that_ask(pinging_sidecar: SidecarProcess) -> None:
    """The ping interval used above really is live: a stream listing capability 3 gets pings
    (WorkItem field 6), so the 1.18.3 stream above not being torn down means none was sent."""
    import grpc

    from tether import pb

    with grpc.insecure_channel(f"127.0.0.1:{pinging_sidecar.grpc_port}") as channel:
        get_work_items = channel.unary_stream(
            "/TaskHubSidecarService/GetWorkItems",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.WorkItem.FromString,
        )
        request = pb.GetWorkItemsRequest(capabilities=[pb.CAPABILITY_HEALTH_PING])
        stream = get_work_items(request, timeout=10)
        first = next(iter(stream))
        stream.cancel()
    assert first.HasField("healthPing")
    assert not first.HasField("workflowRequest") and not first.HasField("activityRequest")
