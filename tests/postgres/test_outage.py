"""The database goes away under load and comes back (a real server, restarted or killed): no
acknowledged write is lost, every failure is ``StoreUnavailable``, the pool reconnects; a running
tether answers UNAVAILABLE / 503 saying the store is unreachable, and recovers by itself."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import grpc
import pytest

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tether import pb
from tether.errors import StoreUnavailable
from tether.store import InstanceRow
from tether.store.postgres.errors import CommitOutcomeUnknown
from tether.store.postgres.store import PostgresStore
from tether.testing import SidecarProcess
from tether.testing.postgres import PostgresCluster, postgres_cluster


def _row(instance_id: str) -> InstanceRow:
    return InstanceRow(instance_id, "app", "wf", pb.RUNNING, "e1", 1, 1)


@pytest.mark.parametrize("how", ["restart", "crash"])
def test_no_acknowledged_write_is_lost_when_the_database_goes_away(how: str) -> None:
    with postgres_cluster() as pg:
        url = pg.create_database("load")
        acked, failed, other = asyncio.run(_load_through_outage(pg, url, how))
        # A fresh connection reads what survived.
        stored = set(pg.psql("SELECT instance_id FROM tether.instances", "load").split())
    assert other == []
    assert acked, "no write succeeded"
    assert set(acked) <= stored, f"lost acknowledged writes: {sorted(set(acked) - stored)[:5]}"
    # Known not written (StoreUnavailable), or lost during COMMIT (then it may be stored).
    assert all(isinstance(e, StoreUnavailable | CommitOutcomeUnknown) for e in failed)


async def _load_through_outage(
    pg: PostgresCluster, url: str, how: str
) -> tuple[list[str], list[BaseException], list[BaseException]]:
    store = PostgresStore(url, connect_wait=30)
    acked: list[str] = []
    failed: list[BaseException] = []
    other: list[BaseException] = []
    outage_over = asyncio.Event()
    after_outage = 0

    async def writer(w: int) -> None:
        nonlocal after_outage
        i = 0
        while not outage_over.is_set() or after_outage < 200:
            iid = f"w{w}-{i}"
            i += 1
            try:
                await store.write(lambda tx, iid=iid: tx.upsert_instance(_row(iid)))
            except (StoreUnavailable, CommitOutcomeUnknown) as exc:
                failed.append(exc)
            except Exception as exc:
                other.append(exc)
                return
            else:
                acked.append(iid)
                if outage_over.is_set():
                    after_outage += 1

    try:
        writers = [asyncio.create_task(writer(w)) for w in range(8)]
        deadline = time.monotonic() + 60
        while len(acked) < 200 and time.monotonic() < deadline and not other:
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        if how == "restart":
            await loop.run_in_executor(None, pg.restart)
        else:
            await loop.run_in_executor(None, pg.kill)
            await loop.run_in_executor(None, pg.start)
        outage_over.set()
        await asyncio.wait_for(asyncio.gather(*writers), timeout=120)
    finally:
        await store.close()
    return acked, failed, other


def _http_get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_tether_answers_unavailable_while_the_database_is_down(tmp_path: Any) -> None:
    with postgres_cluster() as pg:
        url = pg.create_database("app")
        sidecar = SidecarProcess(url, app_id="testapp", home=tmp_path / "home").start()
        raw = Raw(sidecar.grpc_port)
        try:
            raw.start("wf", "before")
            pg.stop()
            with pytest.raises(grpc.RpcError) as info:
                raw.state("missing")
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "unreachable" in (info.value.details() or "")
            status, body = _http_get(sidecar.http_port, "/v1.0/workflows/dapr/missing")
            assert status == 503 and "unreachable" in body["message"]
            # A write fails as fast: the store already waited for a connection, so the engine
            # does not retry it (five retries held a start for about six seconds).
            with pytest.raises(grpc.RpcError) as info:
                raw.start("wf", "during")
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "unreachable" in (info.value.details() or "")
            log = sidecar.log_path.read_text(errors="replace")
            assert "storing a start of 'during' failed" not in log, log[-2000:]
            pg.start()
            # Back by itself: the pool reconnects, the earlier start is still there.
            assert wait_until(lambda: _state_or_none(raw, "before"), timeout=60) is not None
            raw.start("wf", "after")
            assert raw.state("after") is not None
            assert _state_or_none(raw, "during") is None  # the refused start was not stored
        finally:
            raw.close()
            sidecar.stop()


def _state_or_none(raw: Raw, instance_id: str) -> Any:
    try:
        return raw.state(instance_id)
    except grpc.RpcError:
        return None


def test_a_tether_under_load_loses_no_acknowledged_start_across_a_restart(tmp_path: Any) -> None:
    """Clients keep starting workflows through a real ``tether serve`` while PostgreSQL restarts:
    every start that was answered OK is stored; the others failed with UNAVAILABLE."""
    import threading

    with postgres_cluster() as pg:
        url = pg.create_database("app")
        sidecar = SidecarProcess(
            url, app_id="testapp", home=tmp_path / "home", extra_args=["--start-wait", "0"]
        ).start()
        acked: list[str] = []
        codes: list[Any] = []
        stop = threading.Event()

        def client(c: int) -> None:
            raw = Raw(sidecar.grpc_port)
            i = 0
            try:
                while not stop.is_set():
                    iid = f"c{c}-{i}"
                    i += 1
                    try:
                        raw.start("wf", iid)
                    except grpc.RpcError as exc:
                        codes.append(exc.code())
                    else:
                        acked.append(iid)
            finally:
                raw.close()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        try:
            for t in threads:
                t.start()
            wait_until(lambda: len(acked) >= 100, timeout=60)
            pg.restart()
            restarted_at = len(acked)
            wait_until(lambda: len(acked) >= restarted_at + 100, timeout=120)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            sidecar.stop()
        stored = set(pg.psql("SELECT instance_id FROM tether.instances", "app").split())
    assert set(acked) <= stored, f"lost acknowledged starts: {sorted(set(acked) - stored)[:5]}"
    assert set(codes) <= {grpc.StatusCode.UNAVAILABLE}, set(codes)
