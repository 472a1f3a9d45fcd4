"""Counters and histograms in memory, and the Prometheus text exposition format (version 0.0.4).

Small on purpose: labels are fixed per metric, a hot path binds a label set's child once
(``labels``) rather than looking it up per update, updates queue on the child without a lock and
are folded in under the metric's lock when ``/metrics`` is scraped (the store's writer thread
records commits while the engine's thread records turns), and gauges over stored state are not
kept here but computed when ``/metrics`` is scraped (:mod:`tether.telemetry.exposition`).
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
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


# Updates wait in a child's ``pending`` list until a scrape (or this many pile up) folds them in,
# so the hot path takes no lock: under the GIL ``append`` and deleting a list's head are each
# atomic, which is all that folding from one thread while others append needs.
_FOLD_AT = 256


class CounterChild:
    """One label set of a counter, bound once so a hot path adds to it without a lookup."""

    __slots__ = ("lock", "pending", "total")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.pending: list[float] = []
        self.total = 0.0

    def inc(self, by: float = 1.0) -> None:
        pending = self.pending
        pending.append(by)
        if len(pending) >= _FOLD_AT:
            with self.lock:
                self.fold()

    def fold(self) -> None:
        """Add what is pending to the total, in arrival order; the caller holds ``lock``."""
        pending = self.pending
        count = len(pending)
        total = self.total
        for by in pending[:count]:
            total += by
        self.total = total
        del pending[:count]

    @property
    def value(self) -> float:
        with self.lock:
            self.fold()
            return self.total


class HistogramChild:
    """One label set of a histogram: its count in each bucket (not cumulative, +Inf last), sum."""

    __slots__ = ("bounds", "counts", "lock", "pending", "sum")

    def __init__(self, lock: threading.Lock, buckets: tuple[float, ...]) -> None:
        self.lock = lock
        # Floats compare with floats faster than with ints, and the same way.
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.pending: list[float] = []

    def observe(self, value: float) -> None:
        pending = self.pending
        pending.append(value)
        if len(pending) >= _FOLD_AT:
            with self.lock:
                self.fold()

    def fold(self) -> None:
        """Bucket what is pending, in arrival order; the caller holds ``lock``."""
        pending = self.pending
        count = len(pending)
        bounds, counts, total = self.bounds, self.counts, self.sum
        for value in pending[:count]:
            counts[bisect_left(bounds, value)] += 1
            total += value
        self.sum = total
        del pending[:count]

    def snapshot(self) -> tuple[list[int], float]:
        with self.lock:
            self.fold()
            return list(self.counts), self.sum


@dataclass
class Counter(Metric):
    kind: str = "counter"
    values: dict[Labels, CounterChild] = field(default_factory=dict)

    def labels(self, *labels: str) -> CounterChild:
        """The child of this label set, created (and from then on exported) on first call."""
        child = self.values.get(labels)
        if child is None:
            with self.lock:
                child = self.values.setdefault(labels, CounterChild(self.lock))
        return child

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.labels(*labels).inc(by)

    def get(self, *labels: str) -> float:
        child = self.values.get(labels)
        return child.value if child is not None else 0.0

    def lines(self) -> list[str]:
        with self.lock:
            for child in self.values.values():
                child.fold()
            items = sorted((k, c.total) for k, c in self.values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


@dataclass
class Histogram(Metric):
    kind: str = "histogram"
    buckets: tuple[float, ...] = ()
    values: dict[Labels, HistogramChild] = field(default_factory=dict)

    def labels(self, *labels: str) -> HistogramChild:
        """The child of this label set, created (and from then on exported) on first call."""
        child = self.values.get(labels)
        if child is None:
            with self.lock:
                child = self.values.setdefault(labels, HistogramChild(self.lock, self.buckets))
        return child

    def observe(self, value: float, *labels: str) -> None:
        self.labels(*labels).observe(value)

    def count(self, *labels: str) -> int:
        child = self.values.get(labels)
        return sum(child.snapshot()[0]) if child is not None else 0

    def lines(self) -> list[str]:
        with self.lock:
            for child in self.values.values():
                child.fold()
            items = sorted((k, list(c.counts), c.sum) for k, c in self.values.items())
        out: list[str] = []
        for key, counts, total in items:
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
