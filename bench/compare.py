"""``python -m bench.compare --base REV [--new REV]``: one tether build against another, one run.

"this" is this checkout's build, or ``--new``'s. A revision's build is ``git archive REV``
unpacked under ``.bench-venvs/base-<sha>`` with a virtualenv of its own (made once per commit).
Both serve the same SDK worker and driver of this checkout, on fresh SQLite files, with their
rounds interleaved (base, this, base, this, ...), so the machine's drift falls on both alike; the
ratio column is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import RESULTS, ROOT, Scenario, _run_sdk, combine, progress

VENVS = ROOT / ".bench-venvs"


def base_build(rev: str) -> tuple[str, Path]:
    """(short sha, the ``tether`` command) of ``rev``'s build, made on first use."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short=10", rev], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    folder = VENVS / f"base-{sha}"
    program = folder / ".venv" / "bin" / "tether"
    if program.exists():
        return sha, program
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder / ".venv")], check=True)
    pip = [str(folder / ".venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-e", str(folder)], check=True)
    return sha, program


def scenarios(names: list[str], concurrencies: list[int]) -> list[Scenario]:
    count = {1: 200}
    return [Scenario(n, c, count.get(c, 1000)) for n in names for c in concurrencies]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument(
        "--new", help="a git revision to measure instead of this checkout (its own venv too)"
    )
    parser.add_argument("--only", nargs="+", default=["series", "parallel"], help="scenarios")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 50])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sha, base_program = base_build(args.base)
    new_program = base_build(args.new)[1] if args.new else None
    systems = {f"base {sha}": base_program, "this": new_program}
    results: dict[str, dict[str, Any]] = {}
    ratios: dict[str, float] = {}
    started = time.monotonic()
    for sc in scenarios(args.only, args.concurrency):
        rounds: dict[str, list[dict[str, Any]]] = {}
        for n in range(args.rounds):
            for system, program in systems.items():
                progress(started, system, f"{sc.key} round {n + 1}/{args.rounds}")
                record = _run_sdk("tether", sc, False, None, program)
                rounds.setdefault(system, []).append(record)
        results[sc.key] = combine(sc.name, rounds)
        pairs = zip(rounds["this"], rounds[f"base {sha}"], strict=True)
        ratios[sc.key] = statistics.median(t["wf_per_s"] / b["wf_per_s"] for t, b in pairs)
    print(table(results, ratios, f"base {sha}"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved = {"base": sha, "rounds": args.rounds, "results": results, "ratios": ratios}
    (RESULTS / f"compare-{stamp}.json").write_text(json.dumps(saved, indent=1))
    return 0


def table(results: dict[str, dict[str, Any]], ratios: dict[str, float], base: str) -> str:
    head = ("scenario", "base wf/s", "this wf/s", "this/base", "base p50", "this p50",
            "base p95", "this p95", "base CPU ms/wf", "this CPU ms/wf")  # fmt: skip
    rows = [head]
    for key, by in results.items():
        b, t = by[base], by["this"]

        def cpu(r: dict[str, Any]) -> str:
            return f"{1000 * r['engine_cpu_s'] / max(1, r['n']):.2f}"

        rows.append((
            key, f"{b['wf_per_s']:.1f}", f"{t['wf_per_s']:.1f}", f"{ratios[key]:.2f}x",
            f"{b['p50_ms']:.1f}", f"{t['p50_ms']:.1f}", f"{b['p95_ms']:.1f}", f"{t['p95_ms']:.1f}",
            cpu(b), cpu(t),
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for row in rows:
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))
    note = "figures: each system's median round; this/base: the median of per-round ratios"
    return "\n".join([note, *lines])


if __name__ == "__main__":
    raise SystemExit(main())
