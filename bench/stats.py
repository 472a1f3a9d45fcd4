"""Small shared helpers: percentiles and process accounting (psutil or /proc)."""

from __future__ import annotations

import os
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a bench dependency
    psutil = None


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (threads included)."""
    if psutil is not None:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident set size in MB, from /proc/PID/status."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["peak_rss_mb"] = int(line.split()[1]) / 1024
    return out


def summary(latencies_s: list[float]) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "n": len(ms),
        "p50_ms": pct(ms, 50),
        "p90_ms": pct(ms, 90),
        "p95_ms": pct(ms, 95),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
    }
