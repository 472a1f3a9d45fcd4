"""Counters and histograms updated through bound children: nothing pending is lost or late."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from tether.telemetry.metrics import Counter, Histogram

THREADS = 4
UPDATES = 20_000


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so appends land mid-fold."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


def test_a_scrape_sees_updates_still_pending() -> None:
    counter = Counter("c_total", "a counter", ("app_id",))
    histogram = Histogram("h_ms", "a histogram", ("app_id",), buckets=(1, 10))
    counter.labels("a").inc()
    counter.labels("a").inc(2)
    for value in (0.5, 1, 3, 10, 11):
        histogram.labels("a").observe(value)
    assert counter.lines() == ['c_total{app_id="a"} 3']
    assert histogram.lines() == [
        'h_ms_bucket{app_id="a",le="1"} 2',
        'h_ms_bucket{app_id="a",le="10"} 4',
        'h_ms_bucket{app_id="a",le="+Inf"} 5',
        'h_ms_sum{app_id="a"} 25.5',
        'h_ms_count{app_id="a"} 5',
    ]


def test_updates_from_many_threads_while_scraping_are_all_counted(
    eager_switching: None,
) -> None:
    counter = Counter("c_total", "a counter", ("app_id",))
    histogram = Histogram("h_ms", "a histogram", ("app_id",), buckets=(1, 10))
    count_child, latency_child = counter.labels("a"), histogram.labels("a")
    done = threading.Event()

    def update() -> None:
        for i in range(UPDATES):
            count_child.inc()
            latency_child.observe(i % 20)

    def scrape() -> None:
        while not done.is_set():
            counter.lines()
            histogram.lines()

    scraper = threading.Thread(target=scrape)
    scraper.start()
    updaters = [threading.Thread(target=update) for _ in range(THREADS)]
    for thread in updaters:
        thread.start()
    for thread in updaters:
        thread.join()
    done.set()
    scraper.join()

    assert counter.get("a") == THREADS * UPDATES
    assert histogram.count("a") == THREADS * UPDATES
    lines = histogram.lines()
    # Per thread, i % 20 puts 2 values (0, 1) in le=1 and 11 (0..10) in le=10, of every 20.
    per_round = THREADS * UPDATES // 20
    assert f'h_ms_bucket{{app_id="a",le="1"}} {2 * per_round}' in lines
    assert f'h_ms_bucket{{app_id="a",le="10"}} {11 * per_round}' in lines
    assert f'h_ms_sum{{app_id="a"}} {sum(range(20)) * per_round}' in lines
