"""The official Dapr JavaScript SDK (``@dapr/dapr`` 3.18) against a real tether: our workflow app
(tests/js/workflow_app.js) under ``tether run``.

``npm ci`` installs the pinned SDK from tests/js/package-lock.json into tests/js/node_modules
(git-ignored) once; ``scripts/test.sh`` installs Node.js and npm when they are missing. The test is
skipped only when the npm registry cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands.test_serve_run import env_for

HERE = Path(__file__).parent
APP = HERE / "workflow_app.js"
SCENARIOS = [
    "chain",
    "fan-out",
    "child",
    "event",
    "event-timeout",
    "timer",
    "continue-as-new",
    "suspend-resume",
    "terminate",
    "purge",
    "http-client",
    "http-terminate",
]


def _sdk_installed() -> bool:
    lock = json.loads((HERE / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/@dapr/dapr"]["version"]
    installed = HERE / "node_modules" / "@dapr" / "dapr" / "package.json"
    return installed.is_file() and json.loads(installed.read_text())["version"] == wanted


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "Node.js and npm are needed: run scripts/test.sh, or apt-get install nodejs npm"
        )
    if not _sdk_installed():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            unreachable = ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "network")
            if any(word in result.stderr for word in unreachable):
                pytest.skip(f"the npm registry is unreachable: {result.stderr.strip()[-300:]}")
            pytest.fail(f"npm ci failed: {result.stderr[-2000:]}")
    return Path(node)


def test_js_workflow_app_under_tether_run(node_sdk: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tether", "run", "--app-id", "jsapp", "--"),
            *(str(node_sdk), str(APP)),
        ],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(("ok ", "FAIL "))]
    failed = [line for line in lines if line.startswith("FAIL ")]
    assert not failed, "\n".join(failed) + "\n" + result.stderr[-2000:]
    assert [line.split(" ", 2)[1] for line in lines] == SCENARIOS, result.stdout[-3000:]
    assert result.returncode == 0, result.stderr[-2000:]
