"""Bringing a schema up to date when a store opens: ``schema.sql`` for a new one, the missing
``migrations/`` for an older one, all under an advisory lock (nodes starting together migrate
once; the others wait, then find nothing to do)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from tether.errors import StoreError
from tether.store.postgres.queries import QUERIES as Q
from tether.store.postgres.queries import migrations, schema_sql

log = logging.getLogger(__name__)


def latest_version() -> int:
    return migrations()[-1][0]


def migrate(conn: psycopg.Connection[Any], schema: str, *, replay: bool = False) -> list[int]:
    """Create or upgrade ``schema``; return the versions applied now. ``replay`` builds a new
    schema from the migrations instead of ``schema.sql`` (the schema test compares the two)."""
    known = migrations()
    latest = known[-1][0]
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute(Q["migration_lock"], {"schema": schema})
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(Q["create_migrations_table"])
        applied = {r[0] for r in conn.execute(Q["applied_migrations"]).fetchall()}
        newest = max(applied, default=0)
        if newest > latest:
            raise StoreError(
                f"the store (schema {schema!r}) has schema version {newest}, this tether expects "
                f"{latest}; upgrade tether or point --store at another schema"
            )
        fresh = not applied
        found = conn.execute(Q["has_tables"], {"schema": schema}).fetchone()
        if fresh and found is not None and found[0]:
            raise StoreError(
                f"schema {schema!r} has tables but no tether migration record: it is not a "
                "tether store; choose another schema (?schema=…)"
            )
        if fresh and not replay:
            conn.execute(schema_sql().encode())
            for version, name, _ in known:
                conn.execute(Q["record_migration"], {"version": version, "name": name})
            applied_now = [v for v, _, _ in known]
        else:
            for version, name, text in known:
                if version in applied:
                    continue
                conn.execute(text.encode())
                conn.execute(Q["record_migration"], {"version": version, "name": name})
                applied_now.append(version)
    if applied_now:
        log.info("PostgreSQL schema %r: applied migration(s) %s", schema, applied_now)
    return applied_now
