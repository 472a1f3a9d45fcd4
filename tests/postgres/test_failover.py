"""Primary -> synchronous standby failover under load, on real servers (Debian's PostgreSQL,
started by the harness): a ``tether serve`` node configured with a multi-host connection string
(``target_session_attrs=read-write``) keeps serving across a SIGKILL of the primary and the
promotion of its synchronous standby. Calls in the gap fail with UNAVAILABLE saying the store is
unreachable; the node moves to the new primary by itself; every acknowledged start completes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import grpc
from psycopg.conninfo import conninfo_to_dict

from tests.conformance._support import Raw
from tests.conftest import wait_until
from tether import daprfiles, pb
from tether.store.postgres.config import PgTarget, describe, parse_target
from tether.testing import SidecarProcess
from tether.testing.postgres import SUPERUSER, PostgresCluster, postgres_cluster

CLIENTS = 4
LONG_LEASE = {"TETHER_NODE_LEASE_SECONDS": "40"}
CALL_TIMEOUT = 30.0  # a call that takes this long has hung (Raw's deadline for the load's starts)


def _keywords(hosts: list[PostgresCluster], dbname: str) -> str:
    ports = ",".join(str(h.port) for h in hosts)
    return (
        f"host={','.join('127.0.0.1' for _ in hosts)} port={ports} user={SUPERUSER} "
        f"dbname={dbname} sslmode=disable target_session_attrs=read-write"
    )


def _url(hosts: list[PostgresCluster], dbname: str) -> str:
    netloc = ",".join(f"127.0.0.1:{h.port}" for h in hosts)
    return f"postgresql://{SUPERUSER}@{netloc}/{dbname}?target_session_attrs=read-write"


def _runtime(port: int) -> Any:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))

    @runtime.workflow(name="quadruple")
    def quadruple(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        x = yield ctx.call_activity(twice, input=x)
        return (yield ctx.call_activity(twice, input=x))

    @runtime.activity(name="twice")
    def twice(ctx: Any, x: int) -> int:
        return 2 * x

    return runtime


@dataclass
class Call:
    instance_id: str
    x: int
    began: float
    ended: float
    error: grpc.RpcError | None = None


@dataclass
class Load:
    """A closed loop of starts through one node: each client starts the next workflow as soon
    as the previous start was answered, and every answer is recorded."""

    port: int
    calls: list[Call] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self._client, args=(c,)) for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(CALL_TIMEOUT + 10)

    def _client(self, c: int) -> None:
        raw = Raw(self.port)
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                call = Call(f"c{c}-{i}", i, time.monotonic(), 0.0)
                try:
                    raw.start("quadruple", call.instance_id, input_json=str(i))
                except grpc.RpcError as exc:
                    call.error = exc
                call.ended = time.monotonic()
                with self._lock:
                    self.calls.append(call)
        finally:
            raw.close()

    def acked(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.error is None]

    def failed(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.error is not None]


def test_failover_to_a_synchronous_standby_under_load(tmp_path: Path) -> None:
    with postgres_cluster() as primary:
        primary.create_database("app")
        standby = primary.start_standby()
        assert primary.psql("SHOW synchronous_commit") == "on"
        runtimes: list[Any] = []
        nodes: list[SidecarProcess] = []
        try:
            hosts = [primary, standby]
            # The gap is held open until starts fail (about 10 s); a lease well beyond it keeps
            # the node itself from rejoining meanwhile (which would be correct too, but fail its
            # in-flight calls with a lease message rather than the store's).
            node = SidecarProcess(
                _keywords(hosts, "app"), app_id="orders", home=tmp_path / "k", env=LONG_LEASE
            )
            # The URL form, the standby listed first: only target_session_attrs makes it work.
            url_node = SidecarProcess(_url(hosts[::-1], "app"), app_id="urls", home=tmp_path / "u")
            for sidecar in (node, url_node):
                nodes.append(sidecar.start())
                runtimes.append(_runtime(sidecar.grpc_port))
                runtimes[-1].start()
            _run_one(url_node.grpc_port, "url-before", 5)

            load = Load(node.grpc_port)
            with load.running():
                gap = _fail_over(load, primary, standby, node.grpc_port)

            acked, failed = load.acked(), load.failed()
            slowest = max((c.ended - c.began for c in failed), default=0.0)
            print(
                f"\nfailover: {len(acked)} starts acknowledged, {len(failed)} answered "
                f"UNAVAILABLE (slowest in {slowest:.1f}s); seconds after the kill: a read "
                f"failed at {gap.probe_took:.1f}, standby promoted at {gap.promoted:.1f}, "
                f"first commit on it at {gap.first_commit:.1f} "
                f"({gap.first_commit - gap.promoted:.1f} after the promotion)"
            )
            for call in failed:
                assert call.error is not None
                assert call.error.code() == grpc.StatusCode.UNAVAILABLE, call.error
                # Unreachable, or lost while committing (a start in flight at the kill).
                assert _says_unavailable(call.error.details() or ""), call.error.details()
            # The node carried on by itself: same process, now on the new primary.
            assert node.proc is not None and node.proc.poll() is None
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(node.grpc_port))
            for call in acked:
                state = client.wait_for_workflow_completion(call.instance_id, timeout_in_seconds=60)
                assert state is not None, f"acknowledged start {call.instance_id} was lost"
                assert state.runtime_status.name == "COMPLETED", (call.instance_id, state)
                assert state.serialized_output == str(4 * call.x)
            stored = set(standby.psql("SELECT instance_id FROM tether.instances", "app").split())
            assert {c.instance_id for c in acked} <= stored
            _run_one(url_node.grpc_port, "url-after", 6)  # the URL form fails over too
        finally:
            for runtime in runtimes:
                with contextlib.suppress(Exception):
                    runtime.shutdown()
            for sidecar in nodes:
                sidecar.stop()
            standby.stop("immediate")


@dataclass
class Gap:
    probe_took: float  # how long a read with no read-write server took to fail
    error: str  # what it said
    promoted: float  # seconds from the kill to the end of the promotion
    first_commit: float  # seconds from the kill to the first start acknowledged after it


def _fail_over(load: Load, primary: PostgresCluster, standby: PostgresCluster, port: int) -> Gap:
    """Kill the primary under load, see a call fail in the gap, promote the standby, and wait
    until the node has committed on it (and some more)."""
    wait_until(lambda: len(load.acked()) >= 50, timeout=60)
    killed_at = time.monotonic()
    primary.kill()
    probe = Raw(port)
    try:
        error = _expect_unavailable(probe)
        probe_took = time.monotonic() - killed_at
    finally:
        probe.close()

    def start_failed_in_gap() -> bool:
        return any(
            c.began > killed_at and "unreachable" in (c.error.details() or "")
            for c in load.failed()
            if c.error is not None
        )

    # Starts in the gap fail too, once the engine's retries of their write are spent.
    wait_until(start_failed_in_gap, timeout=30)
    standby.promote()
    promoted = time.monotonic() - killed_at

    def first_commit_after_kill() -> Call | None:
        later = [c for c in load.acked() if c.began > killed_at]
        return min(later, key=lambda c: c.ended) if later else None

    first = wait_until(first_commit_after_kill, timeout=60)
    after = len(load.acked())
    wait_until(lambda: len(load.acked()) >= after + 50, timeout=60)
    return Gap(probe_took, error, promoted, first.ended - killed_at)


def _says_unavailable(details: str) -> bool:
    return "unreachable" in details or "went away while committing" in details


def _expect_unavailable(raw: Raw) -> str:
    try:
        raw.call("GetInstance", pb.GetInstanceRequest(instanceId="missing"), timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
        details = exc.details() or ""
        assert "unreachable" in details, details
        return details
    raise AssertionError("a read with no read-write server answered")


def _run_one(port: int, instance_id: str, x: int) -> None:
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
    client.schedule_new_workflow("quadruple", input=x, instance_id=instance_id)
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    assert state.serialized_output == str(4 * x)


def test_multi_host_strings_reach_the_driver_whole_and_are_described_host_by_host() -> None:
    keywords = "host=a,b port=5432,5433 user=u dbname=d target_session_attrs=read-write"
    url = "postgresql://u@a:5432,b:5433/d?target_session_attrs=read-write"
    assert parse_target(f"{keywords} schema=orders") == PgTarget(keywords, "orders")
    assert parse_target(f"{url}&schema=orders") == PgTarget(url, "orders")
    for text in (keywords, url):
        assert describe(text) == "postgresql://u@a:5432,b:5433/d"
    assert describe("host=a,b port=6000 user=u dbname=d") == "postgresql://u@a:6000,b:6000/d"


def test_a_component_file_keeps_every_host_of_a_multi_host_string(tmp_path: Path) -> None:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "statestore.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n"
        "spec:\n  type: state.postgresql\n  version: v1\n  metadata:\n"
        "  - name: connectionString\n"
        '    value: "host=db1,db2 port=5432,5433 user=dapr database=orders '
        'target_session_attrs=read-write"\n'
        '  - name: actorStateStore\n    value: "true"\n'
    )
    found = daprfiles.actor_store(daprfiles.load_components([folder]), "orders")
    assert found is not None
    params = conninfo_to_dict(found.url)
    assert (params["host"], params["port"]) == ("db1,db2", "5432,5433")
    assert params["target_session_attrs"] == "read-write"
    assert describe(found.url) == "postgresql://dapr@db1:5432,db2:5433/orders"
