"""An app with the engine embedded is SIGKILLed with many workflows in flight and restarted:
every acknowledged start completes, with the right result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.integration.helpers import APPS

APP = APPS / "embedded_app.py"
WORKFLOWS = 200
STEPS = 5


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TETHER_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd() / "src"), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [20, 120])
def test_sigkill_of_an_embedded_app_loses_nothing_acknowledged(
    tmp_path: Path, kill_after: int
) -> None:
    store = f"sqlite:///{tmp_path / 'app.db'}"
    proc = subprocess.Popen(
        [sys.executable, str(APP), "start", store, str(WORKFLOWS)],
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "first.log", "wb"),  # noqa: SIM115 - closed with the process
        env=_env(tmp_path),
        text=True,
    )
    acked: list[str] = []
    enough = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ACK "):
                acked.append(line.split()[1])
                if len(acked) >= kill_after:
                    enough.set()
        enough.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert enough.wait(120), "the app acknowledged too few starts"
    proc.kill()  # SIGKILL, mid-run: starts, turns and activities in flight
    proc.wait()
    reader.join(10)
    assert len(acked) >= kill_after

    ids_file = tmp_path / "acked.txt"
    ids_file.write_text("\n".join(acked))
    resumed = subprocess.run(
        [sys.executable, str(APP), "resume", store, str(ids_file)],
        capture_output=True,
        env=_env(tmp_path),
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = resumed.stdout.splitlines()
    unfinished = int(next(line for line in lines if line.startswith("UNFINISHED")).split()[1])
    assert unfinished >= 5, "the kill should leave workflows in flight"
    results = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["id"] for r in results] == acked
    for r in results:
        n = int(r["id"].split("-")[1])
        assert r["status"] == "COMPLETED", r
        assert r["output"] == str(n + STEPS), r
