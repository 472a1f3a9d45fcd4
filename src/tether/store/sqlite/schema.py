"""Creating and migrating the SQLite schema.

A fresh file gets ``schema.sql``; a file at an older version gets each ``migrations/NNN_*.sql``
above its version in order, in one ``BEGIN IMMEDIATE`` transaction (so several processes opening
the file at once migrate it once). A file at a newer version than this code knows is refused.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources

from tether.errors import StoreError

_PACKAGE = "tether.store.sqlite"


def migrations() -> dict[int, str]:
    """Version number -> SQL that brings version-1 to it (001 creates version 1 from nothing)."""
    found: dict[int, str] = {}
    for entry in resources.files(_PACKAGE).joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{3})_\w+\.sql", entry.name)
        if match:
            found[int(match.group(1))] = entry.read_text()
    return dict(sorted(found.items()))


SCHEMA_VERSION = max(migrations())


def statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit the open transaction)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise StoreError(f"incomplete SQL statement in the schema: {current[:80]!r}")
    return out


def _run(conn: sqlite3.Connection, script: str) -> None:
    for statement in statements(script):
        conn.execute(statement)


def _version(conn: sqlite3.Connection) -> int | None:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def prepare(conn: sqlite3.Connection, path: object, upto: int = SCHEMA_VERSION) -> int:
    """Create or migrate the schema to version ``upto``; return the version found before (0 for
    a fresh file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _version(conn)
        if found is None:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone():
                raise StoreError(
                    f"{path} holds tables but no tether schema version; "
                    "point --store at a tether store or a new file"
                )
            if upto == SCHEMA_VERSION:
                _run(conn, resources.files(_PACKAGE).joinpath("schema.sql").read_text())
            else:
                for version, script in migrations().items():
                    if version <= upto:
                        _run(conn, script)
            _set_version(conn, upto)
            conn.execute("COMMIT")
            return 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the store {path} has schema version {found}, newer than this tether knows "
                f"({SCHEMA_VERSION}); upgrade tether or point --store at another file"
            )
        for version, script in migrations().items():
            if found < version <= upto:
                _run(conn, script)
        _set_version(conn, max(found, upto))
        conn.execute("COMMIT")
        return found
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _set_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(version),),
    )
