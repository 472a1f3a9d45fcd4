"""Process helpers for the integration tests: SDK worker subprocesses, fixed ports, logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tests.conftest import wait_until as shared_wait_until

APPS = Path(__file__).parent / "apps"


def free_port() -> int:
    """A TCP port that was free a moment ago (used to restart tether on the same port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    try:
        return shared_wait_until(predicate, timeout=timeout, interval=interval)
    except AssertionError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def count_in(path: Path, needle: str) -> int:
    try:
        return path.read_text(errors="replace").count(needle)
    except FileNotFoundError:
        return 0


class WorkerProcess:
    """An SDK worker script in a subprocess (its own interpreter, so SIGKILL is real)."""

    def __init__(
        self,
        script: Path | str,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        python: str = sys.executable,
    ) -> None:
        self.cmd = [python, str(script), *args]
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> WorkerProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def sdk_env(grpc_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DAPR_GRPC_ENDPOINT", "DAPR_API_TOKEN", "DAPR_GRPC_HOST"):
        env.pop(key, None)
    env.update(DAPR_GRPC_PORT=str(grpc_port), DAPR_RUNTIME_HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


class Record:
    """The activity log a worker script appends to: ``<kind> <instance> <step>`` lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self, kind: str) -> list[tuple[str, int]]:
        out = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == kind:
                out.append((parts[1], int(parts[2])))
        return out

    def count(self, kind: str) -> int:
        return len(self.lines(kind))

    def per_key(self, kind: str) -> Counter[tuple[str, int]]:
        return Counter(self.lines(kind))
