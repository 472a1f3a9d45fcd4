"""The backend's SQL, by name, from ``queries.sql`` (read once, at import)."""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Split a named-query file into {name: statement}, dropping each query's comment lines."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"queries.sql: {name!r} is defined twice")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def _read(name: str) -> str:
    return resources.files("tether.store.postgres").joinpath(name).read_text()


QUERIES = parse(_read("queries.sql"))


def schema_sql() -> str:
    return _read("schema.sql")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every file in ``migrations/``, in version order."""
    found: list[tuple[int, str, str]] = []
    folder = resources.files("tether.store.postgres").joinpath("migrations")
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations/ must be numbered 1, 2, … without gaps; found {versions}")
    return found
