"""The store under test: one per test, of each backend chosen with ``--backends``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(store_location: Path | str) -> str:
    if isinstance(store_location, Path):
        return f"sqlite:///{store_location}"
    return store_location
