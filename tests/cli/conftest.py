"""Fixtures for the CLI tests: a real ``tether serve`` with an official-SDK worker in this
process, and a runner for ``python -m tether …`` subprocesses pointed at that tether."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tether.testing import SidecarProcess

APP_ID = "testapp"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``tether <args>`` in a subprocess with TETHER_HOME set to the sidecar's home."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, ok: bool | None = True, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "tether", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if ok is True:
            assert proc.returncode == 0, f"tether {' '.join(args)} failed: {result}"
        elif ok is False:
            assert proc.returncode != 0, f"tether {' '.join(args)} should fail: {result}"
        return result

    def line(self, command_line: str, ok: bool | None = True) -> Result:
        """A seed line: ``dapr …`` with ``tether`` in its place, shell-split."""
        import shlex

        words = shlex.split(command_line)
        assert words[0] == "tether"
        return self(*words[1:], ok=ok)


@pytest.fixture
def cli(sidecar: SidecarProcess, tmp_path: Path) -> Cli:
    return Cli(sidecar.base_env(), tmp_path)


@pytest.fixture
def app(wf_runtime: Callable[..., Any]) -> Iterator[Any]:
    """A worker with the workflows the CLI tests drive."""
    import dapr.ext.workflow as wf

    runtime = wf_runtime()

    @runtime.activity(name="greet")
    def greet(ctx: Any, name: Any) -> str:
        return f"hello {name}"

    @runtime.workflow(name="OrderProcessingWorkflow")
    def order_wf(ctx: wf.DaprWorkflowContext, order: Any) -> Any:
        greetings = []
        for step in range(5):  # events 1..5 are taskScheduled: something to re-run from
            greetings.append((yield ctx.call_activity(greet, input=f"step{step}")))
        payment = yield ctx.wait_for_external_event("PaymentReceived")
        return {"order": order, "greeting": greetings[0], "payment": payment}

    @runtime.workflow(name="HelloWorkflow")
    def hello_wf(ctx: wf.DaprWorkflowContext, name: Any) -> Any:
        greeting = yield ctx.call_activity(greet, input=name)
        return greeting

    @runtime.workflow(name="TimerWorkflow")
    def timer_wf(ctx: wf.DaprWorkflowContext, seconds: Any) -> Any:
        yield ctx.create_timer(timedelta(seconds=float(seconds)))
        return "fired"

    @runtime.workflow(name="FailingWorkflow")
    def failing_wf(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        raise ValueError("boom\nsecond line")

    runtime.start()
    yield runtime
