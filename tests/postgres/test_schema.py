"""The schema: ``schema.sql`` equals the migrations replayed, nodes starting together migrate
once, and a store newer than this tether is refused."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import pytest

from tether.errors import StoreError
from tether.store.postgres.migrate import latest_version, migrate
from tether.store.postgres.store import PostgresStore

_CATALOG = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default,
                         collation_name
                  FROM information_schema.columns WHERE table_schema = %s
                  ORDER BY table_name, column_name""",
    "indexes": """SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s
                  ORDER BY tablename, indexname""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = %s::regnamespace
                      ORDER BY 1, 2""",
}


def _catalog(url: str, schema: str) -> dict[str, list[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = {}
        for name, query in _CATALOG.items():
            rows = conn.execute(query, (schema,)).fetchall()
            found[name] = [tuple(str(v).replace(schema + ".", "") for v in r) for r in rows]
        found["migrations"] = conn.execute(
            f"SELECT version, name FROM {schema}.tether_migrations ORDER BY version"
        ).fetchall()
        return found


def test_a_fresh_schema_equals_the_migrated_one(empty_pg_url: str) -> None:
    with psycopg.connect(empty_pg_url, autocommit=True) as conn:
        assert migrate(conn, "fresh") == list(range(1, latest_version() + 1))
        assert migrate(conn, "replayed", replay=True) == list(range(1, latest_version() + 1))
        assert migrate(conn, "fresh") == []  # nothing left to do
    fresh, replayed = _catalog(empty_pg_url, "fresh"), _catalog(empty_pg_url, "replayed")
    assert fresh["columns"] and fresh["indexes"]
    assert fresh == replayed


def test_nodes_starting_together_migrate_once(empty_pg_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []
    gate = threading.Barrier(6)

    def open_one() -> None:
        gate.wait()
        try:
            stores.append(PostgresStore(empty_pg_url, schema="together"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def close_all() -> None:
        for store in stores:
            await store.close()

    asyncio.run(close_all())
    assert errors == []
    assert _catalog(empty_pg_url, "together")["migrations"] == [
        (1, "initial"),
        (2, "leases"),
        (3, "dashboard_indexes"),
        (4, "stats_indexes"),
    ]


def test_a_newer_schema_is_refused_with_advice(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tether.tether_migrations (version, name) VALUES (99, 'future')")
    with pytest.raises(StoreError, match="schema version 99"):
        PostgresStore(pg_url)


def test_foreign_tables_in_the_schema_are_not_taken_for_a_store(empty_pg_url: str) -> None:
    with psycopg.connect(empty_pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other; CREATE TABLE other.instances (x int)")
    with pytest.raises(StoreError, match="not a tether store"):
        PostgresStore(empty_pg_url, schema="other")
