"""Storage faults get clear answers (store.sqlite.files): a full disk, a nearly full disk at
start, a store file deleted or replaced under a running tether, the store's file modes, and a
SQLite file that is not a tether store. The disk is a real, small tmpfs mounted for the test."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.conformance._support import Raw, rpc_error
from tests.conftest import wait_until
from tether import pb
from tether.errors import StoreFull
from tether.store import open_store
from tether.testing import SidecarProcess


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (a real file system that runs out of space)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with a filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _start(raw: Raw, instance_id: str, payload: str) -> None:
    request = pb.CreateInstanceRequest(name="w", instanceId=instance_id)
    request.input.value = payload
    raw.call("StartInstance", request, timeout=30)


def test_disk_full_answers_resource_exhausted_and_507_then_resumes(
    small_disk: Path, tmp_path: Path
) -> None:
    sidecar = SidecarProcess(small_disk / "tether.db", app_id="full", home=tmp_path / "home")
    sidecar.start()
    raw = Raw(sidecar.grpc_port)
    http = httpx.Client(base_url=f"http://127.0.0.1:{sidecar.http_port}", timeout=30)
    payload = '"' + "x" * 60_000 + '"'
    try:
        _start(raw, "before", '"small"')
        filler = _fill(small_disk)
        codes = []
        for n in range(300):  # the log may still hold free frames: write until it is full
            try:
                _start(raw, f"fill-{n}", payload)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                err = exc
                break
        assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED], codes
        assert "the store's disk is full" in (err.details() or "")
        r = http.post("/v1.0/workflows/dapr/w/start", params={"instanceID": "h"}, content=payload)
        assert r.status_code == 507, r.text
        assert "the store's disk is full" in r.json()["message"]
        # Reads keep working.
        assert raw.status("before") == "PENDING"
        assert http.get("/v1.0/workflows/dapr/before").status_code == 200
        # Space comes back: writes resume, no restart.
        filler.unlink()
        _start(raw, "after", payload)
        assert raw.status("after") == "PENDING"
        r = http.post("/v1.0/workflows/dapr/w/start", params={"instanceID": "h2"}, content="1")
        assert r.status_code == 202, r.text
    finally:
        http.close()
        raw.close()
        sidecar.stop()


def test_opening_on_a_nearly_full_disk(small_disk: Path) -> None:
    filler = _fill(small_disk)
    with pytest.raises(StoreFull, match="the store's disk is full"):
        open_store(f"sqlite:///{small_disk / 'none.db'}")
    # A few hundred KB free: too little to grow the log ahead of time, enough to run.
    os.truncate(filler, filler.stat().st_size - 600_000)
    (small_disk / "none.db").unlink(missing_ok=True)
    import asyncio

    async def use() -> int:
        store = open_store(f"sqlite:///{small_disk / 'small.db'}")
        try:
            await store.write(lambda tx: tx.delete_messages([1]))
            return await store.read(lambda tx: len(tx.load_messages("x")))
        finally:
            await store.close()

    assert asyncio.run(use()) == 0


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_file_deleted_or_replaced_is_detected(tmp_path: Path, how: str) -> None:
    path = tmp_path / "tether.db"
    sidecar = SidecarProcess(path, app_id="gone").start()
    raw = Raw(sidecar.grpc_port)
    try:
        _start(raw, "kept", '"1"')
        health = f"http://127.0.0.1:{sidecar.http_port}/v1.0/healthz"
        assert httpx.get(health).status_code == 204
        if how == "deleted":
            path.unlink()
        else:
            other = tmp_path / "other.db"
            shutil.copy(path, other)
            os.replace(other, path)
        wait_until(lambda: httpx.get(health).status_code == 500)
        err = rpc_error(lambda: _start(raw, "lost", '"2"'))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert "deleted or replaced" in (err.details() or "")
    finally:
        raw.close()
        sidecar.stop()


def test_the_store_and_its_folder_are_private(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    env = dict(os.environ, TETHER_HOME=str(home))
    env.pop("TETHER_STORE", None)
    code = (
        "import asyncio\n"
        "from tether.store import open_store\n"
        "from tether.store.factory import default_store_url\n"
        "from tether import registry\n"
        "async def main():\n"
        "    store = open_store(default_store_url())\n"
        "    await store.write(lambda tx: tx.delete_messages([1]))\n"
        "    registry.announce(registry.RunningSidecar('a', 1, 1, 1, 'x', 'y', 0.0))\n"
        "    import pathlib, os\n"
        "    p = pathlib.Path(os.environ['TETHER_HOME']) / 'tether.db'\n"
        "    files = [pathlib.Path(f'{p}{s}') for s in ('', '-wal', '-shm')]\n"
        "    modes = [oct(f.stat().st_mode & 0o777) for f in files]\n"
        "    print(' '.join(modes))\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["0o600", "0o600", "0o600"]
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "run").stat().st_mode) == 0o700


def test_a_sqlite_file_that_is_not_a_tether_store_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    foreign = tmp_path / "app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ann')")
    conn.commit()
    conn.close()
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    env = dict(os.environ, TETHER_HOME=str(tmp_path / "home"))
    for args in (["workflow", "list"], ["scheduler", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "tether", *args, "--connection-string", f"sqlite:///{foreign}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, done
        assert "not a tether store" in done.stderr, done.stderr
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app.db")) == ["app.db"]
