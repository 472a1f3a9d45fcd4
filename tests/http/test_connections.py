"""Idle and half-open HTTP connections cannot exhaust a sidecar (httpapi.server)."""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance._support import Raw
from tether import pb
from tether.httpapi.server import HEADER_TIMEOUT
from tether.testing import SidecarProcess

IDLE_SOCKETS = 1500


@contextlib.contextmanager
def _soft_fd_limit(limit: int) -> Iterator[None]:
    """Children started inside inherit a soft limit of ``limit`` (a common default)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def small_sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * IDLE_SOCKETS + 200:
        pytest.skip(f"needs a hard open-file limit above {2 * IDLE_SOCKETS + 200}, have {hard}")
    with _soft_fd_limit(1024):
        proc = SidecarProcess(tmp_path / "tether.db", app_id="conns").start()
    try:
        yield proc
    finally:
        proc.stop()


def test_idle_sockets_do_not_starve_grpc_or_http(small_sidecar: SidecarProcess) -> None:
    sockets: list[socket.socket] = []
    try:
        for _ in range(IDLE_SOCKETS):
            sock = socket.create_connection(("127.0.0.1", small_sidecar.http_port), timeout=10)
            sockets.append(sock)
        raw = Raw(small_sidecar.grpc_port)
        try:
            raw.call("StartInstance", pb.CreateInstanceRequest(name="w", instanceId="i"), 10)
            assert raw.status("i") == "PENDING"
        finally:
            raw.close()
        with httpx.Client(base_url=f"http://127.0.0.1:{small_sidecar.http_port}") as http:
            r = http.get("/v1.0/workflows/dapr/i", timeout=10)
            assert r.status_code == 200, r.text
    finally:
        for sock in sockets:
            sock.close()


def test_a_connection_that_never_finishes_its_headers_is_closed(
    small_sidecar: SidecarProcess,
) -> None:
    sock = socket.create_connection(("127.0.0.1", small_sidecar.http_port), timeout=5)
    try:
        sock.sendall(b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
        sock.settimeout(HEADER_TIMEOUT + 20)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, nothing answered
        assert time.monotonic() - started < HEADER_TIMEOUT + 20
    finally:
        sock.close()
