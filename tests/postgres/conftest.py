"""Fixtures for the PostgreSQL backend's own tests: a fresh database on the session cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import chosen_backends


@pytest.fixture(autouse=True)
def _postgres_chosen(pytestconfig: pytest.Config) -> None:
    if "postgres" not in chosen_backends(pytestconfig):
        pytest.skip("PostgreSQL is not among --backends")


@pytest.fixture
def pg_url(pg_databases: Any) -> Iterator[str]:
    url: str = pg_databases.new()
    try:
        yield url
    finally:
        pg_databases.drop(url)


@pytest.fixture
def empty_pg_url(pg_databases: Any) -> Iterator[str]:
    """A database without tether's schema."""
    url: str = pg_databases.new(empty=True)
    try:
        yield url
    finally:
        pg_databases.drop(url)
