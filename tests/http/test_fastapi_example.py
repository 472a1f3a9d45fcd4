"""examples/fastapi_management driven end to end under ``tether run``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_management"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_fastapi_management_example(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    env.update(APP_PORT=str(port), TETHER_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    env.pop("DAPR_API_TOKEN", None)
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether",
            "run",
            "--app-id",
            "orders",
            "--store",
            f"sqlite:///{tmp_path / 'tether.db'}",
            "--",
            sys.executable,
            "app.py",
        ],
        cwd=EXAMPLE,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:

            def up() -> bool:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()
                try:
                    return http.get("/orders/none/status").status_code == 404
                except httpx.TransportError:
                    return False

            wait_until(up, timeout=60)
            r = http.post("/orders/12345/start", params={"amount": 1500})
            assert r.json() == {"instance_id": "order-12345-workflow", "status": "started"}

            def status() -> str:
                body = http.get("/orders/12345/status").json()
                return str(body["status"])

            wait_until(lambda: status() == "RUNNING")
            # It waits for the approval (after its request-approval activity ran).
            wait_until(
                lambda: b"Approval requested for order 12345" in (tmp_path / "run.log").read_bytes()
            )
            assert status() == "RUNNING"
            r = http.post("/orders/12345/approve", params={"approved": "true"})
            assert r.json() == {"event": "approval_decision", "sent": True}
            wait_until(lambda: status() == "COMPLETED")
            assert http.get("/orders/12345/status").json()["output"] == '{"status": "completed"}'

            # A second order, rejected; a third terminated and purged while waiting.
            http.post("/orders/777/start", params={"amount": 5000})
            wait_until(lambda: http.get("/orders/777/status").json()["status"] == "RUNNING")
            http.post("/orders/777/approve", params={"approved": "false", "reason": "too much"})
            wait_until(lambda: http.get("/orders/777/status").json()["status"] == "COMPLETED")
            assert http.get("/orders/777/status").json()["output"] == (
                '{"status": "rejected", "reason": "too much"}'
            )
            http.post("/orders/999/start", params={"amount": 2000})
            wait_until(lambda: http.get("/orders/999/status").json()["status"] == "RUNNING")
            r = http.delete("/orders/999/workflow")
            assert r.json() == {"instance_id": "order-999-workflow", "purged": True}
            assert http.get("/orders/999/status").status_code == 404
            assert http.post("/orders/999/approve").status_code == 404
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    # tether run forwards SIGTERM; uvicorn shuts down gracefully and then re-raises the signal,
    # which tether run reports the shell's way (128 + 15).
    assert code in (0, 128 + signal.SIGTERM), (tmp_path / "run.log").read_text()
    assert b"Application shutdown complete" in (tmp_path / "run.log").read_bytes()
