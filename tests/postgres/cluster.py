"""A cluster of ``tether serve`` nodes of one app on one PostgreSQL database for the tests, each
node with an official SDK worker in a process of its own (``cluster_worker.py``), and SQL behind
tether's back to watch it.

Who wrote each turn is observed with a statement trigger on ``history`` (one insert per turn)
that records the instance's owner at that moment, which the fence guarantees is the writer, with
the server's clock (:meth:`Db.install_turn_probe`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import httpx
import psycopg

from tests.conformance._support import Raw, kinds
from tests.conftest import wait_until
from tests.integration.helpers import Record, sdk_env
from tether import pb
from tether.store.postgres.config import parse_target
from tether.testing import SidecarProcess

WORKER = Path(__file__).parent / "cluster_worker.py"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pg-cluster"
APP = "clusterapp"
ACTIVE = "status <> ALL(%s)"  # SQL: not terminal, with TERMINAL as its parameter
TERMINAL = list(pb.TERMINAL_STATUSES)


class Worker:
    """``cluster_worker.py`` in a process of its own, started at once (importing the SDK takes
    a while) and pointed at its node's port once the node is up."""

    def __init__(self, record: Path, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), str(record)],
                env=sdk_env(0, env),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def connect(self, grpc_port: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{grpc_port}\n".encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


@dataclass
class Member:
    """One node of the cluster and its worker, as one host would run them."""

    name: str
    sidecar: SidecarProcess
    worker: Worker
    record: Record

    @property
    def pid(self) -> int:
        assert self.sidecar.proc is not None
        return self.sidecar.proc.pid

    def owns(self, owner: str | None) -> bool:
        # node ids are app@host:pid:suffix (a new suffix after a rejoin, the same pid)
        return owner is not None and f":{self.pid}:" in owner

    def client(self) -> Any:
        return wf.DaprWorkflowClient(host="127.0.0.1", port=str(self.sidecar.grpc_port))

    def connected_workers(self) -> int:
        url = f"http://127.0.0.1:{self.sidecar.http_port}/v1.0/metadata"
        return int(httpx.get(url, timeout=10).json()["connectedWorkers"])


@contextlib.contextmanager
def cluster(
    pg_url: str,
    tmp_path: Path,
    names: str,
    env: dict[str, str],
    worker_env: dict[str, str] | None = None,
) -> Iterator[list[Member]]:
    """Nodes (``env`` added to theirs) with their workers (``worker_env``), the workers not yet
    connected (see ``connect_workers``)."""

    def member(name: str) -> Member:
        sidecar = SidecarProcess(
            pg_url,
            app_id=APP,
            home=tmp_path / name / "home",
            env=env,
            log_path=tmp_path / f"tether-{name}.log",
        )
        record = Record(tmp_path / f"runs-{name}.txt")
        worker = Worker(record.path, tmp_path / f"worker-{name}.log", worker_env or {})
        return Member(name, sidecar, worker, record)

    members: list[Member] = []
    try:
        members.extend(member(name) for name in names)
        with ThreadPoolExecutor(len(members)) as pool:  # the nodes come up side by side
            list(pool.map(lambda m: m.sidecar.start(), members))
        yield members
    finally:
        for m in members:
            m.worker.kill()
        for m in members:
            m.sidecar.stop()


def connect_workers(members: list[Member]) -> None:
    for member in members:
        member.worker.connect(member.sidecar.grpc_port)
    wait_until(lambda: all(m.connected_workers() >= 1 for m in members), timeout=60)


class Db:
    """SQL on the test's database behind tether's back, and the turn probe."""

    def __init__(self, url: str) -> None:
        target = parse_target(url)
        self.schema = target.schema
        self.conn = psycopg.connect(target.conninfo, autocommit=True)
        self.conn.execute(f"SET search_path TO {self.schema}".encode())

    def rows(self, statement: str, *params: Any) -> list[Any]:
        return self.conn.execute(statement.encode(), params).fetchall()

    def one(self, statement: str, *params: Any) -> Any:
        return self.rows(statement, *params)[0]

    def now(self) -> float:
        return float(self.one("SELECT extract(epoch FROM clock_timestamp())")[0])

    def install_turn_probe(self) -> None:
        """Record (instance, owner, time) for every insert into history: one per turn."""
        self.conn.execute(
            """
            CREATE SCHEMA probe;
            CREATE TABLE probe.turns (instance_id TEXT, owner TEXT, at DOUBLE PRECISION);
            CREATE FUNCTION probe.record_turns() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO probe.turns
                SELECT a.instance_id, i.owner, extract(epoch FROM clock_timestamp())
                FROM (SELECT DISTINCT instance_id FROM added) a
                JOIN {s}.instances i USING (instance_id);
                RETURN NULL;
            END $$;
            CREATE TRIGGER probe_turns AFTER INSERT ON {s}.history
            REFERENCING NEW TABLE AS added FOR EACH STATEMENT
            EXECUTE FUNCTION probe.record_turns();
            """.replace("{s}", self.schema).encode()
        )

    def turns(self) -> list[tuple[str, str, float]]:
        return self.rows("SELECT instance_id, owner, at FROM probe.turns")

    def close(self) -> None:
        self.conn.close()


def check_histories(grpc_port: int, ids: list[str], activities: int) -> None:
    """Each instance (its history as the node on ``grpc_port`` answers) completed once and
    scheduled ``activities`` tasks, each completed once."""
    raw = Raw(grpc_port)
    try:
        histories = {instance_id: raw.history(instance_id) for instance_id in ids}
    finally:
        raw.close()
    problems: dict[str, Any] = {}
    for instance_id, events in histories.items():
        scheduled = [e.eventId for e in events if e.HasField("taskScheduled")]
        completed = [e.taskCompleted.taskScheduledId for e in events if e.HasField("taskCompleted")]
        if (
            kinds(events).count("executionCompleted") != 1
            or len(scheduled) != activities
            or sorted(scheduled) != sorted(completed)
            or len(set(scheduled)) != activities
        ):
            problems[instance_id] = kinds(events)
    assert not problems, problems


def write_figures(name: str, figures: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\n{name}:\n" + json.dumps(figures, indent=2))
