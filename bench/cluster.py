"""``python -m bench.cluster``: tether on SQLite (1 node) against PostgreSQL (1, 2 and 3 nodes).

Every run gets fresh processes on a fresh store: ``tether serve`` nodes of one app (on SQLite one
node on a new file; on PostgreSQL N nodes on a new database of one throwaway cluster, fsync and
synchronous_commit on), one SDK worker per node connected to it, and the driver
(``bench.driver``), which starts workflows on the nodes round-robin and waits on the node it
started each on. Around the measured window this process takes its own snapshots: the CPU
seconds of every node, worker, the driver and the PostgreSQL server (the postmaster and all its
children), tether's commit counters (``/metrics`` of every node) and, on PostgreSQL, the
database's ``xact_commit`` and its transaction ID counter (write transactions).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.run import PY, RESULTS, ROOT, Scenario, combine, free_port, progress, stop
from bench.run import wait_port as wait_listening
from bench.run import worker as sdk_worker

APP = "bench"
# PostgreSQL 15 backends publish their statistics at most once a second, and an idle one only
# after 10 s: the window's first snapshot of xact_commit waits this long after the warm-up (its
# last snapshot is taken once the nodes are stopped, since an exiting backend publishes at once).
STATS_SETTLE_S = 11.0
STARTUP_S = 120.0
DURABILITY = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@dataclass(frozen=True)
class Config:
    key: str
    backend: str  # sqlite or postgres
    nodes: int

    @property
    def label(self) -> str:
        return f"{self.backend} {self.nodes} node{'s' if self.nodes > 1 else ''}"


CONFIGS = (Config("sqlite", "sqlite", 1), Config("pg1", "postgres", 1),
           Config("pg2", "postgres", 2), Config("pg3", "postgres", 3))  # fmt: skip


def scenarios(quick: bool) -> list[Scenario]:
    counts = {1: 50, 50: 200} if quick else {1: 200, 50: 1000}
    return [Scenario(name, c, n) for name in ("series", "parallel") for c, n in counts.items()]


# -- the PostgreSQL side ------------------------------------------------------------------------
class Postgres:
    """One throwaway cluster for the whole run, a fresh database per measured run."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self._count = 0

    def new_database(self) -> str:
        self._count += 1
        return str(self.cluster.create_database(f"bench_{self._count}"))

    def counters(self, url: str) -> dict[str, int]:
        """The database's committed transactions and the next transaction ID (every write
        transaction takes one, read-only ones none)."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit, pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
                "FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return {"xact_commit": int(row[0]), "next_xid": int(row[1])}

    def wait_disconnected(self, url: str, timeout: float = 30) -> None:
        """Until no backend but ours is on the database (theirs have published their stats)."""
        import psycopg

        deadline = time.monotonic() + timeout
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                if row is not None and row[0] == 0:
                    return
                time.sleep(0.05)
        raise RuntimeError("the tether nodes' connections did not close")

    def drop(self, url: str) -> None:
        self.cluster.drop_database(url.rsplit("/", 1)[-1])

    def processes(self) -> list[psutil.Process]:
        pid = self.cluster.pid()
        if pid is None:
            raise RuntimeError("the PostgreSQL server is not running")
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    from tether.testing.postgres import postgres_cluster

    with postgres_cluster(settings=dict(DURABILITY)) as cluster:
        yield Postgres(cluster)


def cpu_of(processes: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots of a process set (a process born meanwhile counts
    whole; one that ended meanwhile is lost, which the long-lived pools make rare)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


# -- tether nodes -------------------------------------------------------------------------------
@dataclass
class Node:
    proc: subprocess.Popen[Any]
    grpc_port: int
    http_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def commits(self) -> dict[str, float]:
        """tether's own counters: store commits (group commits on SQLite) and writes in them."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        return {
            "commits": _metric(text, "tether_store_commit_latency_seconds_count"),
            "writes": _metric(text, "tether_store_commit_batch_size_sum"),
        }


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


@contextlib.contextmanager
def nodes(store: str, count: int, workdir: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    logs = []
    try:
        for i in range(count):
            folder = workdir / f"node{i + 1}"
            folder.mkdir()
            grpc_port, http_port = free_port(), free_port()
            cmd = [str(Path(PY).parent / "tether"), "serve", "--store", store,
                   "--grpc-port", str(grpc_port), "--http-port", str(http_port),
                   "--app-id", APP, "--log-level", "warning"]  # fmt: skip
            env = dict(os.environ, PYTHONUNBUFFERED="1", TETHER_HOME=str(folder / "home"))
            log = open(folder / "tether.log", "w")  # noqa: SIM115
            logs.append(log)
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=log, stderr=log
            )
            started.append(Node(proc, grpc_port, http_port))
        for i, node in enumerate(started):
            try:  # generous: several nodes start at once on a machine that may be busy
                wait_listening(node.grpc_port, node.proc, timeout=STARTUP_S)
                wait_listening(node.http_port, node.proc, timeout=STARTUP_S)
            except RuntimeError as exc:
                log_tail = (workdir / f"node{i + 1}" / "tether.log").read_text()[-3000:]
                raise RuntimeError(f"tether node {i + 1}: {exc}\n{log_tail}") from exc
        yield started
    finally:
        for node in started:
            stop(node.proc)
        for log in logs:
            log.close()


# -- one measured run ---------------------------------------------------------------------------
def run_one(
    cfg: Config, sc: Scenario, pg: Postgres | None, all_xacts: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{cfg.key}-") as tmp:
        workdir = Path(tmp)
        if cfg.backend == "postgres":
            assert pg is not None
            store = pg.new_database()
        else:
            store = f"sqlite:///{workdir / 'tether.db'}"
        try:
            return _measure(cfg, sc, pg, store, workdir, all_xacts)
        finally:
            if pg is not None and cfg.backend == "postgres":
                pg.drop(store)


def _measure(
    cfg: Config, sc: Scenario, pg: Postgres | None, store: str, workdir: Path, all_xacts: bool
) -> dict[str, Any]:
    on_pg = pg is not None and cfg.backend == "postgres"
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(nodes(store, cfg.nodes, workdir))
        workers = [stack.enter_context(sdk_worker(n.address, workdir / f"node{i + 1}"))
                   for i, n in enumerate(cluster)]  # fmt: skip
        cmd = [PY, "-m", "bench.driver", ",".join(n.address for n in cluster), sc.name,
               str(sc.concurrency), str(sc.count), "--handshake"]  # fmt: skip
        driver_log = stack.enter_context(open(workdir / "driver.log", "w"))
        driver = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=driver_log, text=True)  # fmt: skip
        stack.callback(stop, driver, 5)
        assert driver.stdin is not None and driver.stdout is not None
        if driver.stdout.readline().strip() != "warm":
            raise RuntimeError(_failed(workdir))
        if on_pg:
            assert pg is not None
            if all_xacts:  # the workload, not synchronisation: PostgreSQL's statistics lag
                time.sleep(STATS_SETTLE_S)
            pg_before = pg.counters(store)
        own_before = [n.commits() for n in cluster]
        watched = {f"node{i + 1}": [psutil.Process(n.proc.pid)] for i, n in enumerate(cluster)}
        watched |= {f"worker{i + 1}": [psutil.Process(w.pid)] for i, w in enumerate(workers)}
        pg_procs = pg.processes() if on_pg and pg is not None else []
        cpu_before = {k: cpu_of(v) for k, v in watched.items()}
        pg_cpu_before = cpu_of(pg_procs)
        driver.stdin.write("go\n")
        driver.stdin.flush()
        line = driver.stdout.readline()
        if not line.strip():
            raise RuntimeError(_failed(workdir))
        cpu_s = {k: cpu_delta(cpu_before[k], cpu_of(v)) for k, v in watched.items()}
        if on_pg and pg is not None:
            cpu_s["postgres"] = cpu_delta(pg_cpu_before, cpu_of(pg.processes()))
        own_after = [n.commits() for n in cluster]
        if on_pg and pg is not None:
            xid_after = pg.counters(store)["next_xid"]
    result: dict[str, Any] = json.loads(line)
    n = result["n"]
    cpu_s["driver"] = result.pop("driver_cpu_s")
    result.pop("cpu_s", None)
    result["config"] = cfg.label
    result["cpu_s"] = cpu_s
    result["cpu_ms_per_wf"] = {k: 1000 * v / n for k, v in cpu_s.items()}
    for what in ("commits", "writes"):
        delta = sum(a[what] - b[what] for a, b in zip(own_after, own_before, strict=True))
        result[f"tether_{what}_per_wf"] = delta / n
    if on_pg and pg is not None:
        if all_xacts:
            pg.wait_disconnected(store)
            pg_after = pg.counters(store)
            delta = pg_after["xact_commit"] - pg_before["xact_commit"]
            result["pg_xact_commit_per_wf"] = delta / n
        result["pg_write_xacts_per_wf"] = (xid_after - pg_before["next_xid"]) / n
    return result


def _failed(workdir: Path) -> str:
    return f"the driver failed:\n{(workdir / 'driver.log').read_text()[-3000:]}"


# -- output -------------------------------------------------------------------------------------
def paired(rounds: dict[str, list[dict[str, Any]]], top: str, bottom: str) -> float | None:
    """Median over rounds of ``top``'s throughput over ``bottom``'s in the same round."""
    pairs = zip(rounds.get(top, []), rounds.get(bottom, []), strict=False)
    ratios = [a["wf_per_s"] / b["wf_per_s"] for a, b in pairs if b.get("wf_per_s")]
    return statistics.median(ratios) if ratios else None


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def table(results: dict[str, dict[str, dict[str, Any]]], ratios: dict[str, Any]) -> str:
    head = ("scenario", "config", "wf/s", "range", "p50 ms", "p95 ms", "pg commits/wf",
            "pg write tx/wf", "tether commits/wf", "tether writes/wf", "CPU ms/wf: nodes",
            "workers", "driver", "postgres")  # fmt: skip
    rows = [head]
    for key, by in results.items():
        for cfg in CONFIGS:
            r = by.get(cfg.key)
            if r is None:
                continue
            cpu = r["cpu_ms_per_wf"]
            each = [f"{cpu[k]:.1f}" for k in sorted(cpu) if k.startswith("node")]
            per_worker = [f"{cpu[k]:.1f}" for k in sorted(cpu) if k.startswith("worker")]
            rounds = r.get("rounds") or []
            spread = f"{min(rounds):.0f}-{max(rounds):.0f}" if len(rounds) > 1 else "-"
            rows.append((
                key, cfg.label, f"{r['wf_per_s']:.1f}", spread, f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}", _f(r.get("pg_xact_commit_per_wf")),
                _f(r.get("pg_write_xacts_per_wf")), _f(r.get("tether_commits_per_wf")),
                _f(r.get("tether_writes_per_wf")), "/".join(each), "/".join(per_worker),
                f"{cpu['driver']:.1f}", _f(cpu.get("postgres")),
            ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    lines += ["", "ratios (median of per-round ratios of wf/s):"]
    for key, r in ratios.items():
        pg_sqlite, scale = r.get("pg1/sqlite"), r.get("pg3/pg1")
        lines.append(
            f"  {key:14} PG 1 node / SQLite {_f(pg_sqlite and 100 * pg_sqlite, '{:.0f}%')} "
            f"(target >= 70%)   PG 3 nodes / PG 1 node {_f(scale, '{:.2f}x')} (target >= 1.00x)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run: 50 and 200 workflows")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds, configurations interleaved in each (default 3, 1 with "
                        "--quick); figures are each configuration's median round")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=["series", "parallel"], help="scenarios")
    parser.add_argument("--configs", nargs="+", choices=[c.key for c in CONFIGS],
                        help="configurations (default all: sqlite pg1 pg2 pg3)")  # fmt: skip
    parser.add_argument("--all-xacts", action="store_true",
                        help="also count PostgreSQL's read-only transactions (xact_commit); "
                        f"each PostgreSQL run then waits {STATS_SETTLE_S:.0f} s for the server's "
                        "statistics to settle")  # fmt: skip
    args = parser.parse_args(argv)
    rounds_wanted = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds_wanted < 1:
        parser.error("--rounds must be at least 1")
    configs = [c for c in CONFIGS if not args.configs or c.key in args.configs]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    ratios: dict[str, dict[str, float | None]] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        needs_pg = any(c.backend == "postgres" for c in configs)
        pg = stack.enter_context(postgres()) if needs_pg else None
        for sc in scenarios(args.quick):
            if args.only and sc.name not in args.only:
                continue
            rounds: dict[str, list[dict[str, Any]]] = {}
            for i in range(rounds_wanted):
                for cfg in configs:
                    progress(started, cfg.key, f"{sc.key} round {i + 1}/{rounds_wanted}")
                    rounds.setdefault(cfg.key, []).append(run_one(cfg, sc, pg, args.all_xacts))
            results[sc.key] = combine(sc.name, rounds)
            ratios[sc.key] = {"pg1/sqlite": paired(rounds, "pg1", "sqlite"),
                              "pg3/pg1": paired(rounds, "pg3", "pg1")}  # fmt: skip
    meta = {"cpus": os.cpu_count(), "quick": args.quick, "rounds": rounds_wanted,
            "duration_s": time.monotonic() - started, "postgres_settings": DURABILITY,
            "sqlite": "WAL, synchronous=FULL (tether's default)"}  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"cluster-{stamp}.json"
    out.write_text(json.dumps({"meta": meta, "results": results, "ratios": ratios}, indent=1))
    print(f"figures: each configuration's median round of {rounds_wanted}; CPU per workflow of "
          "each process in the measured window")  # fmt: skip
    print(table(results, ratios))
    print(f"\nran {meta['duration_s']:.0f} s on {meta['cpus']} CPUs; JSON {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
