"""Counters and histograms in memory, and the Prometheus text exposition format (version 0.0.4).

Small on purpose: labels are fixed per metric, values are updated under one lock (the store's
writer thread records commits), and gauges over stored state are not kept here but computed when
``/metrics`` is scraped (:mod:`tether.telemetry.exposition`).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass
class Metric:
    name: str
    help: str
    label_names: Labels
    kind: str = "untyped"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


@dataclass
class Counter(Metric):
    kind: str = "counter"
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self.lock:
            self.values[labels] = self.values.get(labels, 0.0) + by

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def lines(self) -> list[str]:
        with self.lock:
            items = sorted(self.values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


@dataclass
class Histogram(Metric):
    kind: str = "histogram"
    buckets: tuple[float, ...] = ()
    # per label set: [count in each bucket (not cumulative)..., +Inf], sum
    values: dict[Labels, tuple[list[int], list[float]]] = field(default_factory=dict)

    def observe(self, value: float, *labels: str) -> None:
        index = bisect.bisect_left(self.buckets, value)
        with self.lock:
            entry = self.values.get(labels)
            if entry is None:
                entry = ([0] * (len(self.buckets) + 1), [0.0])
                self.values[labels] = entry
            entry[0][index] += 1
            entry[1][0] += value

    def count(self, *labels: str) -> int:
        entry = self.values.get(labels)
        return sum(entry[0]) if entry else 0

    def lines(self) -> list[str]:
        with self.lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self.values.items())
        out: list[str] = []
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return out


@dataclass
class GaugeSample:
    """A gauge computed at scrape time: one family, its samples given by the caller."""

    name: str
    help: str
    label_names: Labels
    samples: Sequence[tuple[Labels, float]]

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        out += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in self.samples]
        return out


def render(metrics: Iterable[Metric], gauges: Iterable[GaugeSample]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines += metric.header()
        lines += metric.lines()
    for gauge in gauges:
        lines += gauge.render()
    return "\n".join(lines) + "\n"
