"""``python -m tether.embedded app.py`` runs an unchanged Dapr workflow app with no sidecar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "examples" / "hello_world" / "app.py"


def test_the_docs_hello_world_app_runs_embedded_unchanged(tmp_path: Path) -> None:
    env = dict(os.environ, TETHER_HOME=str(tmp_path / "home"))
    env["TETHER_STORE"] = f"sqlite:///{tmp_path / 'hello.db'}"
    env.pop("DAPR_GRPC_PORT", None)
    done = subprocess.run(
        [sys.executable, "-m", "tether.embedded", str(APP)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "Get response from hello_world_wf after pause call: SUSPENDED" in lines
    assert "Get response from hello_world_wf after resume call: RUNNING" in lines
    assert "Workflow completed! Result: Completed" in lines
