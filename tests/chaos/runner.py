"""Seeded fault schedules over the SDK patterns, checked against a fault-free run.

A schedule (one seed) draws fault rates for work items and completions on the worker's stream
(drop, duplicate, delay, reorder; see tether.testing.faults) and, at seeded moments, SIGKILLs the
worker process or the sidecar (restarted on the same store). Every pattern instance must end
with the status and output of the fault-free run. One sidecar and worker serve many schedules
in turn; each schedule's instances have their own IDs.

    python -m tests.chaos.runner --seeds 0-299        # scripts/chaos.sh
    python -m tests.chaos.runner --seeds 17           # replay one seed
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf

from tests.chaos.patterns import drive
from tether.testing import SidecarProcess
from tether.testing.faults import FaultPlan, FaultyProxy

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    seed: int
    problems: list[str]
    faults: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Session:
    """A sidecar, a fault proxy in front of it, a worker process behind the proxy, a client."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sidecar = SidecarProcess(folder / "chaos.db", app_id="chaos", home=folder / "home")
        self.sidecar.start()
        self.proxy = FaultyProxy(self.sidecar.grpc_port).start()
        self.worker: subprocess.Popen[bytes] | None = None
        self.start_worker()
        self.client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(self.proxy.port))
        self._lock = threading.Lock()

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.patterns", str(self.proxy.port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "worker.log", "ab"),  # noqa: SIM115 - the child owns it
        )

    def kill_worker(self) -> None:
        with self._lock:
            assert self.worker is not None
            self.worker.kill()
            self.worker.wait()
            self.start_worker()

    def kill_sidecar(self) -> None:
        with self._lock:
            self.sidecar.kill()
            fresh = SidecarProcess(
                self.sidecar.store_path, app_id=self.sidecar.app_id, home=self.sidecar.home
            )
            self.sidecar = fresh.start()
            self.proxy.retarget(self.sidecar.grpc_port)

    def close(self) -> None:
        if self.worker is not None:
            assert self.worker.stdin is not None
            self.worker.stdin.close()
            try:
                self.worker.wait(10)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        self.proxy.stop()
        self.sidecar.stop()


def run_schedule(
    session: Session, seed: int, expected: dict[str, Any], intensity: float = 0.1
) -> Result:
    started = time.monotonic()
    plan = FaultPlan.random(seed, intensity)
    session.proxy.plan = plan
    rng = random.Random(seed)
    kills: list[str] = []
    timers: list[threading.Timer] = []
    for what, chance, action in (
        ("worker", 0.3, session.kill_worker),
        ("sidecar", 0.15, session.kill_sidecar),
    ):
        if rng.random() < chance:
            at = rng.uniform(0.0, 2.0)
            kills.append(f"kill {what} at {at:.2f}s")
            timer = threading.Timer(at, action)
            timer.daemon = True
            timers.append(timer)
    for timer in timers:
        timer.start()
    try:
        outcome = drive(session.client, f"s{seed}")
    finally:
        for timer in timers:
            timer.join()
        session.proxy.plan = FaultPlan.quiet()
    problems = [
        f"{key}: got {outcome.get(key)}, fault-free run gave {want}"
        for key, want in expected.items()
        if outcome.get(key) != want
    ]
    return Result(seed, problems, list(plan.log), kills, time.monotonic() - started)


def baseline(session: Session) -> dict[str, Any]:
    return drive(session.client, "baseline")


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            seeds.extend(range(int(low), int(high) + 1))
        else:
            seeds.append(int(part))
    return seeds


def run(seeds: list[int], intensity: float = 0.1, out: Any = sys.stdout) -> list[Result]:
    tmp = tempfile.mkdtemp(prefix="tether-chaos-")
    # The folder (store, sidecar and worker logs) is kept when a schedule fails.
    session = Session(Path(tmp))
    try:
        expected = baseline(session)
        print(f"fault-free run: {expected}", file=out, flush=True)
        results = []
        for seed in seeds:
            result = run_schedule(session, seed, expected, intensity)
            results.append(result)
            verdict = "ok" if not result.problems else "FAILED"
            print(
                f"seed {seed}: {verdict} in {result.seconds:.1f}s "
                f"({len(result.faults)} faults{', ' if result.kills else ''}"
                f"{', '.join(result.kills)})",
                file=out,
                flush=True,
            )
            for problem in result.problems:
                print(f"  {problem}", file=out, flush=True)
    finally:
        session.close()
    failed = [r.seed for r in results if r.problems]
    if failed:
        print(f"store and logs kept in {tmp}", file=out, flush=True)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    replay = f"; replay with: scripts/chaos.sh --seeds {','.join(map(str, failed))}"
    print(
        f"{len(results)} schedules, {len(failed)} failed{replay if failed else ''}",
        file=out,
        flush=True,
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-299", help="e.g. 0-299, or 3,17,42")
    parser.add_argument("--intensity", type=float, default=0.1, help="max rate of each fault")
    args = parser.parse_args()
    results = run(parse_seeds(args.seeds), args.intensity)
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
