"""``python -m bench``: run the scenarios against tether, the stub ceiling and (optionally) DBOS.

Each scenario gets a fresh server process on a fresh temporary SQLite file and a fresh SDK
worker process; the driver process (the SDK's asyncio client) runs the closed loop and reports
latencies, throughput and the CPU seconds of every process during the measured window.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import pct, rss_mb

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DBOS_VENV = ROOT / ".bench-venvs" / "dbos"
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Scenario:
    name: str  # workflow scenario: series, parallel, empty, payload, timers, long
    concurrency: int
    count: int

    @property
    def key(self) -> str:
        if self.name in ("timers", "long", "waiting"):
            return f"{self.name} n={self.count}"
        return f"{self.name} c={self.concurrency}"


def scenarios(quick: bool) -> list[Scenario]:
    out: list[Scenario] = []
    for name in ("series", "parallel", "empty"):
        if quick:
            out += [Scenario(name, 1, 50)] if name == "series" else []
            out += [Scenario(name, 50, 200)]
        else:
            out += [Scenario(name, 1, 200)]
            out += [Scenario(name, c, 1000) for c in (10, 50, 350)]
    out.append(Scenario("payload", 10, 40 if quick else 300))
    out.append(Scenario("timers", 0, 300 if quick else 5000))
    out.append(Scenario("long", 1, 100 if quick else 1000))
    out.append(Scenario("waiting", 0, 1000 if quick else 10000))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def stop(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(Exception):
        if proc.stdin:
            proc.stdin.close()
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def server(
    system: str,
    workdir: Path,
    tracing: str | None = None,
    tether_bin: Path | None = None,
    bare: bool = False,
) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """``tracing``: an OTLP/gRPC endpoint tether exports its spans to (None: tracing off);
    ``tether_bin``: another build's ``tether`` command (default: this checkout's); ``bare``:
    telemetry off altogether (no metrics either: the engine's observer does nothing)."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if system == "tether":
        db = workdir / "tether.db"
        program = tether_bin or Path(PY).parent / "tether"
        cmd = [str(program), "serve", "--store", f"sqlite:///{db}",
               "--grpc-port", str(port), "--http-port", "0", "--app-id", "bench",
               "--log-level", "warning"]  # fmt: skip
        if tracing is not None:
            cmd += ["--tracing-endpoint", tracing, "--tracing-protocol", "grpc"]
        if bare:
            cmd += ["--enable-metrics", "false"]
    else:
        cmd = [PY, "-m", "bench.stub", str(port)]
    log = open(workdir / f"{system}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=log, stderr=log)
    try:
        wait_port(port, proc)
        yield f"127.0.0.1:{port}", proc
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def worker(address: str, workdir: Path) -> Iterator[subprocess.Popen[Any]]:
    log = open(workdir / "worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [PY, "-m", "bench.worker", address], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the worker did not start; see worker.log")
        yield proc
    finally:
        stop(proc, grace=5)
        log.close()


def run_sdk(
    system: str, sc: Scenario, keep: bool, traced: bool = False, bare: bool = False
) -> dict[str, Any]:
    """One scenario against tether or the stub, with the SDK worker and the SDK client.

    ``traced``: tether exports its spans over OTLP/gRPC to a receiver this process runs;
    ``bare``: tether runs with telemetry off altogether (metrics too)."""
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(otlp_sink()) if traced else None
        endpoint = sink.endpoint if sink is not None else None
        result = _run_sdk(system, sc, keep, endpoint, bare=bare)
        if sink is not None:
            result["spans"] = len(sink.spans())
            if result["spans"] == 0:
                raise RuntimeError("tracing was on but no span reached the receiver")
    return result


@contextlib.contextmanager
def otlp_sink() -> Iterator[Any]:
    from tether.testing.otlp import GrpcReceiver

    sink = GrpcReceiver()
    try:
        yield sink
    finally:
        sink.stop()


def _run_sdk(
    system: str,
    sc: Scenario,
    keep: bool,
    tracing: str | None,
    tether_bin: Path | None = None,
    bare: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
        workdir = Path(tmp)
        serving = server(system, workdir, tracing, tether_bin, bare)
        with serving as (address, srv), worker(address, workdir) as wrk:
            cmd = [PY, "-m", "bench.driver", address, sc.name, str(sc.concurrency),
                   str(sc.count), "--watch", str(srv.pid), str(wrk.pid)]  # fmt: skip
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise RuntimeError(f"driver failed:\n{out.stderr[-3000:]}")
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            cpu = result.pop("cpu_s")
            result["engine_cpu_s"] = cpu[str(srv.pid)]
            result["worker_cpu_s"] = cpu[str(wrk.pid)]
            result.update(rss_mb(srv.pid))
        if keep:
            for f in workdir.glob("*.log"):
                name = f"{system}-{sc.name}-{sc.concurrency}-{f.name}"
                (RESULTS / name).write_text(f.read_text())
    return result


def run_embedded(sc: Scenario) -> dict[str, Any]:
    """One scenario with the engine embedded in the app: workflows, worker and client in one
    process (``bench.embedded``), on a fresh SQLite file with the same durability."""
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        cmd = [PY, "-m", "bench.embedded", f"sqlite:///{Path(tmp) / 'tether.db'}", sc.name,
               str(sc.concurrency), str(sc.count)]  # fmt: skip
        env = dict(os.environ, TETHER_HOME=str(Path(tmp) / "home"))
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"embedded run failed:\n{out.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def ensure_dbos() -> Path:
    python = DBOS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DBOS_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import dbos, psutil"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing dbos into {DBOS_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "dbos", "psutil"], check=True
        )
    return python


def run_dbos(python: Path, sc: Scenario) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dbos-") as tmp:
        db = Path(tmp) / "dbos.db"
        cmd = [str(python), "-m", "bench.dbos_app", str(db), sc.name,
               str(sc.concurrency), str(sc.count)]  # fmt: skip
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"dbos run failed:\n{out.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def sqlite_commit(n: int = 500) -> dict[str, Any]:
    """Time one small durable commit (WAL, synchronous=FULL) on this disk, in the results dir."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RESULTS, prefix="commit-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "c.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(256),))
            conn.execute("COMMIT")
            times.append((time.perf_counter() - t0) * 1000)
        conn.close()
    return {"n": n, "p50_ms": pct(times, 50), "p99_ms": pct(times, 99)}


# -- output -----------------------------------------------------------------------------------
def _f(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return fmt.format(value)


def _primary(scenario: str) -> str:
    """The figure that picks a scenario's median round."""
    return {"timers": "total_s", "long": "ratio", "waiting": "total_s"}.get(scenario, "wf_per_s")


def combine(scenario: str, rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per system, the record of its median round (by the primary figure, so its percentiles,
    CPU and RSS belong together), with every round's primary figure kept under ``rounds``."""
    metric = _primary(scenario)
    out: dict[str, Any] = {}
    for system, runs in rounds.items():
        ordered = sorted(runs, key=lambda r: r[metric])
        record = dict(ordered[(len(ordered) - 1) // 2])
        record["rounds"] = [r[metric] for r in runs]
        out[system] = record
    return out


def paired_ratios(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Median over rounds of tether's throughput divided by the other system's in the same
    round: runs next to each other share the machine's mood, so the pairs cancel its drift.
    Keys: "ceiling", "dbos" (the sidecar against them), "embedded/dbos", and the telemetry
    variants' "metrics/bare", "traced/bare", "traced/metrics"."""
    out: dict[str, float] = {}
    for mine, other, key in (("tether", "ceiling", "ceiling"), ("tether", "dbos", "dbos"),
                             ("embedded", "dbos", "embedded/dbos"),
                             ("tether", "tether-bare", "metrics/bare"),
                             ("tether+otel", "tether-bare", "traced/bare"),
                             ("tether+otel", "tether", "traced/metrics")):  # fmt: skip
        pairs = zip(rounds.get(mine, []), rounds.get(other, []), strict=False)
        ratios = [t["wf_per_s"] / o["wf_per_s"] for t, o in pairs if o.get("wf_per_s")]
        if ratios:
            out[key] = statistics.median(ratios)
    return out


def _range(record: dict[str, Any]) -> str:
    values = record.get("rounds") or []
    if len(values) < 2:
        return "-"
    return f"{min(values):.0f}-{max(values):.0f}"


def _rounds(record: dict[str, Any], what: str, unit: str) -> str:
    values = record.get("rounds") or []
    if len(values) < 2:
        return ""
    return f" ({what} per round: {' / '.join(f'{v:.2f}' for v in values)}{unit})"


def table(
    results: dict[str, dict[str, dict[str, Any]]], ratios: dict[str, dict[str, float]]
) -> str:
    head = ("scenario", "tether wf/s", "range", "p50 ms", "p90 ms", "p95 ms", "p99 ms",
            "ceiling wf/s", "% ceil", "embedded wf/s", "emb p50", "emb p95", "emb/DBOS",
            "DBOS wf/s", "DBOS p50", "DBOS p95", "tether/DBOS",
            "tether CPU s", "worker CPU s", "driver CPU s", "peak RSS MB")  # fmt: skip
    rows = [head]
    for key, by in results.items():
        t, c, d = by.get("tether", {}), by.get("ceiling", {}), by.get("dbos", {})
        e = by.get("embedded", {})
        if key.startswith(("timers", "long", "waiting")):
            continue
        r = ratios.get(key, {})
        rows.append((
            key, _f(t.get("wf_per_s")), _range(t), _f(t.get("p50_ms")), _f(t.get("p90_ms")),
            _f(t.get("p95_ms")), _f(t.get("p99_ms")), _f(c.get("wf_per_s")),
            _f(100 * r["ceiling"], "{:.0f}%") if "ceiling" in r else "-",
            _f(e.get("wf_per_s")), _f(e.get("p50_ms")), _f(e.get("p95_ms")),
            _f(r.get("embedded/dbos"), "{:.2f}x"), _f(d.get("wf_per_s")), _f(d.get("p50_ms")),
            _f(d.get("p95_ms")),
            _f(r.get("dbos"), "{:.2f}x"), _f(t.get("engine_cpu_s"), "{:.2f}"),
            _f(t.get("worker_cpu_s"), "{:.2f}"), _f(t.get("driver_cpu_s"), "{:.2f}"),
            _f(t.get("peak_rss_mb")),
        ))  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = ["  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    for key, by in results.items():
        if key.startswith("timers"):
            lines.append("")
            lines.append(f"{key}: 1 s durable timer each")
            for system, r in by.items():
                lines.append(
                    f"  {system:8} start all {_f(r.get('schedule_s'), '{:.1f}')} s, all done "
                    f"{_f(r.get('total_s'), '{:.1f}')} s, completion spread "
                    f"{_f(r.get('spread_s'), '{:.2f}')} s, lateness p50/p95/max "
                    f"{_f(r.get('late_p50_ms'), '{:.0f}')}/{_f(r.get('late_p95_ms'), '{:.0f}')}/"
                    f"{_f(r.get('late_max_ms'), '{:.0f}')} ms, "
                    f"CPU {_f(r.get('engine_cpu_s'), '{:.1f}')} s, "
                    f"peak RSS {_f(r.get('peak_rss_mb'))} MB{_rounds(r, 'all done', ' s')}"
                )
        elif key.startswith("waiting"):
            lines.append("")
            lines.append(f"{key}: instances waiting on an event at once, then all released")
            for system, r in by.items():
                lines.append(
                    f"  {system:8} start all {_f(r.get('schedule_s'), '{:.1f}')} s, all done "
                    f"{_f(r.get('total_s'), '{:.1f}')} s, RSS while waiting "
                    f"{_f(r.get('rss_waiting_mb'))} MB, peak RSS {_f(r.get('peak_rss_mb'))} MB"
                )
        elif key.startswith("long"):
            lines.append("")
            lines.append(f"{key}: one workflow of sequential activities (time per activity+turn)")
            for system, r in by.items():
                lines.append(
                    f"  {system:8} total {_f(r.get('total_s'), '{:.1f}')} s, turns 1-10 "
                    f"{_f(r.get('turn_first10_ms'), '{:.2f}')} ms, last 10 "
                    f"{_f(r.get('turn_last10_ms'), '{:.2f}')} ms, "
                    f"ratio {_f(r.get('ratio'), '{:.2f}')}, "
                    f"CPU {_f(r.get('engine_cpu_s'), '{:.1f}')} s{_rounds(r, 'ratio', '')}"
                )
    lines += _tracing_lines(results, ratios)
    return "\n".join(lines)


def _tracing_lines(
    results: dict[str, dict[str, dict[str, Any]]], ratios: dict[str, dict[str, float]]
) -> list[str]:
    """tether with OTLP span export next to tether without (and, with ``--tracing all``, next
    to tether with telemetry off altogether), where they ran."""
    lines: list[str] = []
    variants = (("no telemetry", "tether-bare"), ("tracing off", "tether"),
                ("tracing on", "tether+otel"))  # fmt: skip
    for key, by in results.items():
        if "tether+otel" not in by and "tether-bare" not in by:
            continue
        if not lines:
            lines += ["", "telemetry: none (metrics and tracing off), tracing off (metrics on), "
                      "tracing on (spans over OTLP/gRPC to a local receiver):"]  # fmt: skip
        paired = ratios.get(key, {})
        for label, system in variants:
            r = by.get(system)
            if not r:
                continue
            spans = f", {r['spans']} spans received" if "spans" in r else ""
            lines.append(
                f"  {key:14} {label:12} {_f(r.get('wf_per_s'))} wf/s, p50 "
                f"{_f(r.get('p50_ms'))} ms, p99 {_f(r.get('p99_ms'))} ms, tether CPU "
                f"{_f(r.get('engine_cpu_s'), '{:.2f}')} s{spans}"
            )
        shown = [f"{name} {paired[name]:.3f}" for name in
                 ("metrics/bare", "traced/bare", "traced/metrics") if name in paired]  # fmt: skip
        if shown:
            lines.append(f"  {key:14} throughput ratios (median per round): {', '.join(shown)}")
    return lines


def plot(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path | None:
    """Throughput and latency of the closed-loop scenarios; None when none of them ran."""
    keys = [k for k in results if not k.startswith(("timers", "long", "waiting"))]
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [s for s in ("tether", "embedded", "ceiling", "dbos")
               if any(s in results[k] for k in keys)]  # fmt: skip
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(10, len(keys) * 0.9), 9))
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        xs = [j + i * width for j in range(len(keys))]
        values = [results[k].get(system, {}).get("wf_per_s", 0) for k in keys]
        ax1.bar(xs, values, width, label=system)
    ax1.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], keys, rotation=45, ha="right")
    ax1.set_ylabel("workflows / s")
    ax1.set_title("throughput (closed loop)")
    ax1.legend()
    lat_systems = [s for s in ("tether", "embedded", "dbos") if s in systems]
    pcts = ("p50_ms", "p95_ms", "p99_ms")
    width = 0.8 / (len(lat_systems) * len(pcts))
    n = 0
    for system in lat_systems:
        for p in pcts:
            xs = [j + n * width for j in range(len(keys))]
            ax2.bar(xs, [results[k].get(system, {}).get(p, 0) for k in keys], width,
                    label=f"{system} {p[:3]}")  # fmt: skip
            n += 1
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], keys, rotation=45, ha="right")
    ax2.set_yscale("log")
    ax2.set_ylabel("latency ms (log)")
    ax2.set_title("latency percentiles")
    ax2.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


DURABILITY = (
    "tether (sidecar and embedded): SQLite WAL, synchronous=FULL (its default); "
    "DBOS: SQLite WAL, synchronous=FULL (forced on every connection)"
)


def progress(started: float, system: str, key: str) -> None:
    print(f"[{time.monotonic() - started:6.0f}s] {system:8} {key}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (< 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--baseline", choices=["dbos"], help="also run the scenarios on DBOS")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the stub-server ceiling")
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=["tether", "embedded", "ceiling"],
        help="which systems to run (default: tether embedded ceiling); DBOS via --baseline",
    )
    parser.add_argument("--only", nargs="*", help="scenario names to run (e.g. series long)")
    parser.add_argument(
        "--concurrency",
        nargs="+",
        type=int,
        help="only the closed-loop scenarios at these concurrencies (e.g. 1 50)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep logs in bench/results")
    parser.add_argument(
        "--tracing",
        choices=["off", "on", "both", "all"],
        default="off",
        help="tether exports spans over OTLP to a receiver the bench runs: on, off, both "
        "(tether and tether+otel side by side; needs tether[otel]), or all (both, and "
        "tether-bare: telemetry off altogether, metrics too)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="runs of every scenario per system, interleaved; figures are medians "
        "(default 3, 1 with --quick)",
    )
    args = parser.parse_args(argv)
    rounds_wanted = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds_wanted < 1:
        parser.error("--rounds must be at least 1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    systems = args.systems or ["tether", "embedded", "ceiling"]
    if args.no_ceiling and "ceiling" in systems:
        systems.remove("ceiling")
    if args.tracing != "off" and "tether" in systems:
        at = systems.index("tether")
        variants = {"on": ["tether+otel"], "both": ["tether", "tether+otel"],
                    "all": ["tether-bare", "tether", "tether+otel"]}  # fmt: skip
        systems[at : at + 1] = variants[args.tracing]
    dbos_python = ensure_dbos() if args.baseline == "dbos" else None
    results: dict[str, dict[str, dict[str, Any]]] = {}
    ratios: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    for sc in scenarios(args.quick):
        if args.only and sc.name not in args.only:
            continue
        closed_loop = sc.name not in ("timers", "long", "waiting")
        if args.concurrency and closed_loop and sc.concurrency not in args.concurrency:
            continue
        rounds: dict[str, list[dict[str, Any]]] = {}
        for n in range(rounds_wanted):
            tag = f"{sc.key} round {n + 1}/{rounds_wanted}"
            for system in systems:
                if system == "ceiling" and sc.name in ("timers", "waiting"):
                    continue  # the stub has no timers and keeps no waiting instances
                progress(started, system, tag)
                if system == "embedded":
                    rounds.setdefault(system, []).append(run_embedded(sc))
                    continue
                kind = "stub" if system == "ceiling" else "tether"
                traced, bare = system == "tether+otel", system == "tether-bare"
                record = run_sdk(kind, sc, args.keep_logs, traced, bare)
                rounds.setdefault(system, []).append(record)
            if dbos_python is not None and sc.name != "waiting":
                progress(started, "dbos", tag)
                rounds.setdefault("dbos", []).append(run_dbos(dbos_python, sc))
        results[sc.key] = combine(sc.name, rounds)
        if _primary(sc.name) == "wf_per_s":
            ratios[sc.key] = paired_ratios(rounds)
    commit = sqlite_commit()
    meta = {
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "duration_s": time.monotonic() - started,
        "sqlite_commit_wal_full": commit,
        "durability": DURABILITY,
        "rounds": rounds_wanted,
        "tracing": args.tracing,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    png = plot(results, RESULTS / f"bench-{stamp}.png")
    saved = json.dumps({"meta": meta, "results": results, "ratios": ratios}, indent=1)
    (RESULTS / f"bench-{stamp}.json").write_text(saved)
    if args.json:
        report = {"meta": meta, "results": results, "ratios": ratios, "plot": png and str(png)}
        print(json.dumps(report, indent=1))
    else:
        print(f"figures: the median of {rounds_wanted} round(s); % ceil and tether/DBOS: the "
              "median of the per-round ratios")  # fmt: skip
        print(table(results, ratios))
        print()
        print(f"one durable SQLite commit (WAL, synchronous=FULL) here: "
              f"p50 {commit['p50_ms']:.2f} ms, p99 {commit['p99_ms']:.2f} ms")  # fmt: skip
        print(f"durability: {meta['durability']}")
        print(f"ran {meta['duration_s']:.0f} s on {meta['cpus']} CPUs; plot {png or 'none'}")
    return 0
