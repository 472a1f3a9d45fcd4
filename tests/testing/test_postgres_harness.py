"""The throwaway PostgreSQL harness itself: a real server, fresh databases, a standby."""

from __future__ import annotations

from tether.testing.postgres import postgres_cluster


def test_cluster_gives_fresh_databases_from_a_template() -> None:
    with postgres_cluster() as pg:
        pg.create_database("tmpl")
        pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (7)", "tmpl")
        url = pg.create_database("one", template="tmpl")
        assert url.endswith(f":{pg.port}/one")
        pg.psql("INSERT INTO t VALUES (8)", "one")
        pg.create_database("two", template="tmpl")
        assert pg.psql("SELECT count(*) FROM t", "one") == "2"
        assert pg.psql("SELECT count(*) FROM t", "two") == "1"
        assert pg.psql("SHOW listen_addresses") == "127.0.0.1"


def test_synchronous_standby_keeps_commits_through_a_failover() -> None:
    with postgres_cluster() as pg:
        pg.create_database("app")
        standby = pg.start_standby()
        try:
            assert pg.psql("SHOW synchronous_standby_names") == "standby1"
            pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", "app")
            pg.kill()
            standby.promote()
            assert standby.psql("SELECT x FROM t", "app") == "1"
            standby.psql("INSERT INTO t VALUES (2)", "app")
            assert standby.psql("SELECT count(*) FROM t", "app") == "2"
        finally:
            standby.stop("immediate")
