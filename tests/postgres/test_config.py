"""Connection strings: Dapr's URL and libpq keyword forms, tether's own ``schema`` option."""

from __future__ import annotations

import asyncio

import pytest

from tether.errors import ConfigError
from tether.store import open_store
from tether.store.factory import is_postgres
from tether.store.postgres.config import describe, parse_target, with_schema

SEED = "host=localhost user=dapr password=dapr dbname=dapr port=5432 sslmode=disable"


def test_both_forms_are_recognised_and_sqlite_is_not() -> None:
    assert is_postgres(SEED)
    assert is_postgres("postgresql://dapr:dapr@localhost:5432/dapr")
    assert is_postgres("postgres://localhost/dapr")
    assert not is_postgres("sqlite:///tmp/x.db")
    assert not is_postgres("/tmp/tether.db")


def test_schema_is_taken_off_before_the_driver_sees_it() -> None:
    url = parse_target("postgresql://u:p@h:5/db?sslmode=disable&schema=orders")
    assert (url.conninfo, url.schema) == ("postgresql://u:p@h:5/db?sslmode=disable", "orders")
    keywords = parse_target(f"{SEED} table_prefix=billing")
    assert (keywords.conninfo, keywords.schema) == (SEED, "billing")
    assert parse_target(SEED).schema == "tether"
    assert parse_target(f"{SEED} schema=a", schema="b").schema == "b"


def test_quoted_keyword_values_survive() -> None:
    target = parse_target("host=h password='a b\\' c' schema='s1'")
    assert target.conninfo == "host=h password='a b\\' c'"
    assert target.schema == "s1"


def test_with_schema_sets_or_replaces_it() -> None:
    assert parse_target(with_schema(SEED, "x")).schema == "x"
    assert parse_target(with_schema(f"{SEED} schema=y", "x")).schema == "x"
    url = with_schema("postgresql://h/db?schema=y&sslmode=disable", "x")
    assert parse_target(url) == parse_target("postgresql://h/db?sslmode=disable&schema=x")


@pytest.mark.parametrize("bad", ["Orders", "a-b", "1abc", "x" * 49, "a;drop"])
def test_a_bad_schema_name_is_refused_with_its_rule(bad: str) -> None:
    with pytest.raises(ConfigError, match="lower-case letters"):
        parse_target(f"{SEED} schema={bad}")


def test_describe_never_shows_the_password() -> None:
    assert describe(SEED) == "postgresql://dapr@localhost:5432/dapr"
    assert "secret" not in describe("postgresql://dapr:secret@db:6543/app")


def test_an_unreachable_database_is_reported_as_unreachable() -> None:
    from tether.errors import StoreUnavailable
    from tether.testing.postgres import free_port

    with pytest.raises(StoreUnavailable, match="unreachable") as info:
        open_store(f"host=127.0.0.1 port={free_port()} user=x password=hidden dbname=x")
    assert "hidden" not in str(info.value)
    assert info.value.__cause__ is not None


def test_keyword_form_and_schema_open_a_store(pg_databases: object) -> None:
    from tether.testing.postgres import FreshDatabases

    assert isinstance(pg_databases, FreshDatabases)
    url = pg_databases.new()
    try:
        dbname = url.rsplit("/", 1)[-1]
        keywords = f"{pg_databases.cluster.keywords(dbname)} schema=second"

        async def body() -> str:
            store = open_store(keywords)
            try:
                return str(getattr(store, "schema", ""))
            finally:
                await store.close()

        assert asyncio.run(body()) == "second"
        tables = pg_databases.cluster.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'second'", dbname
        )
        assert int(tables) >= 6
    finally:
        pg_databases.drop(url)


def test_tether_store_may_name_a_postgres_store(
    pg_databases: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.settings import Settings
    from tether.testing.postgres import FreshDatabases

    assert isinstance(pg_databases, FreshDatabases)
    url = pg_databases.new()
    try:
        keywords = pg_databases.cluster.keywords(url.rsplit("/", 1)[-1])
        monkeypatch.setenv("TETHER_STORE", keywords)
        settings = Settings(app_id="a")
        assert settings.store_url == keywords

        async def body() -> str:
            store = open_store(settings.store_url)
            try:
                return store.kind
            finally:
                await store.close()

        assert asyncio.run(body()) == "postgres"
    finally:
        pg_databases.drop(url)
