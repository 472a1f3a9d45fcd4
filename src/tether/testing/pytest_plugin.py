"""pytest fixtures for testing Dapr workflows without Docker or a sidecar.

Enable with ``pytest_plugins = ["tether.testing.pytest_plugin"]`` in your ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.testing.timeskip import TimeSkipping


@pytest.fixture
def workflow_env(tmp_path: Path) -> Iterator[TimeSkipping]:
    """An embedded tether engine on a temporary store with a time-skipping clock."""
    with TimeSkipping(tmp_path / "workflows.db") as env:
        yield env
