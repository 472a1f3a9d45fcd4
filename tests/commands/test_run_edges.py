"""`tether run` and `tether serve` at their edges: signals, stubborn apps, SIGKILL, port clashes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commands.test_serve_run import env_for
from tests.conftest import wait_until
from tether import registry

TETHER = [sys.executable, "-m", "tether"]

APP = textwrap.dedent(
    """\
    import os, signal, sys, time
    mode = sys.argv[1]
    if mode == "ignore-int":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        def stop(sig, frame):
            print("got", signal.Signals(sig).name, flush=True)
            sys.exit(3)
        signal.signal(signal.SIGHUP, stop)
    print("ready", os.getpid(), flush=True)
    while True:
        time.sleep(0.1)
    """
)


def _gone(pid: int) -> bool:
    started = registry.process_started(pid)
    return started in (None, "") if Path("/proc").is_dir() else not registry.pid_alive(pid)


def _start_run(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    proc = subprocess.Popen(
        [*TETHER, "run", "-a", "edge", "--", sys.executable, str(app), mode],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), line + proc.stderr.read() if proc.stderr else line
    return proc, int(line.split()[1])


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_sighup_is_passed_on_to_the_app(tmp_path: Path, cleanup: list[int]) -> None:
    proc, app_pid = _start_run(tmp_path, "hup")
    cleanup.append(app_pid)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "got SIGHUP"
    assert proc.returncode == 3, err
    assert wait_until(lambda: _gone(app_pid), timeout=10)


def test_an_app_that_ignores_sigint_is_killed_after_the_grace_period(
    tmp_path: Path, cleanup: list[int]
) -> None:
    proc, app_pid = _start_run(tmp_path, "ignore-int")
    cleanup.append(app_pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert "the app did not exit within 5s of SIGINT: killing it" in err
    assert wait_until(lambda: _gone(app_pid), timeout=10)


def test_a_sigkilled_tether_leaves_no_registry_entry_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path))
    proc = subprocess.Popen(
        [*TETHER, "serve", "-a", "killed", "--grpc-port", "0", "--http-port", "0"],
        env=env_for(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        entry = tmp_path / "run" / f"killed-{proc.pid}.json"
        wait_until(entry.exists, timeout=30)
        assert json.loads(entry.read_text())["process_started"]
        assert [e.app_id for e in registry.running()] == ["killed"]
        proc.kill()
        # Not reaped yet: the pid is a zombie, which still answers kill(pid, 0).
        wait_until(lambda: registry.process_started(proc.pid) == "", timeout=10)
        assert registry.running() == []
        assert not entry.exists()
    finally:
        proc.kill()
        proc.wait()
    # An entry whose pid now belongs to another process is stale too.
    (tmp_path / "run").mkdir(exist_ok=True)
    other = tmp_path / "run" / f"reused-{os.getpid()}.json"
    other.write_text(
        json.dumps(
            {
                "app_id": "reused",
                "pid": os.getpid(),
                "grpc_port": 1,
                "http_port": 2,
                "listen_address": "127.0.0.1",
                "store_url": "sqlite:///x.db",
                "started_at": time.time(),
                "process_started": "1",
            }
        )
    )
    assert registry.running() == [] and not other.exists()


@pytest.mark.parametrize("which", ["--grpc-port", "--http-port"])
def test_a_port_clash_is_one_clear_line(tmp_path: Path, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ports = {"--grpc-port": "0", "--http-port": "0", which: port}
        result = subprocess.run(
            [*TETHER, "serve", "-a", "clash", *(x for kv in ports.items() for x in kv)],
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    key = which.removeprefix("--").replace("-", "_")
    assert result.returncode == 1
    assert result.stderr == (
        f"tether: {key}: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
