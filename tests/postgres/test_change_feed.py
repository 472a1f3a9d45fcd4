"""The change feed: a store hears which instances other stores changed (LISTEN/NOTIFY), not its
own writes, and after losing its listening connection it is told to resynchronise."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tether import pb
from tether.store import Change, InstanceRow, MessageRow
from tether.store.base import CLAIMABLE, INBOX, INSTANCE, RESYNC
from tether.store.postgres.store import PostgresStore


def _row(instance_id: str) -> InstanceRow:
    return InstanceRow(instance_id, "app", "wf", pb.RUNNING, "e1", 1, 1)


class Heard:
    def __init__(self) -> None:
        self.changes: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, changes: list[Any]) -> None:
        with self.lock:
            self.changes.extend(changes)

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                seen = list(self.changes)
            if predicate(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"not heard within {timeout}s: {seen}")
            await asyncio.sleep(0.02)


def _listen(store: PostgresStore) -> Heard:
    heard = Heard()
    store.set_change_listener(heard)
    return heard


def test_other_stores_changes_arrive_keyed_and_own_ones_do_not(pg_url: str) -> None:
    async def body() -> tuple[list[Any], list[Any]]:
        writer, reader = PostgresStore(pg_url), PostgresStore(pg_url)
        try:
            mine, theirs = _listen(writer), _listen(reader)
            assert reader._listener.connected.wait(10) and writer._listener.connected.wait(10)
            await writer.write(lambda tx: tx.upsert_instance(_row("i1")))
            message = MessageRow(7, "i1", "app", b"e", 0, None, 1)
            await writer.write(lambda tx: tx.add_messages([message]))
            await writer.write(lambda tx: tx.delete_messages([7]))
            seen = await theirs.wait_for(lambda s: len(s) >= 4)
            await writer.write(lambda tx: tx.delete_instance("i1"))
            await theirs.wait_for(lambda s: len(s) >= 5)
            return seen, mine.changes
        finally:
            await writer.close()
            await reader.close()

    seen, own = asyncio.run(body())
    assert seen == [
        Change(CLAIMABLE, "app", "i1"),
        Change(INSTANCE, "app", "i1"),
        Change(INBOX, "app", "i1"),
        Change(INBOX, "app", "i1"),
    ]
    assert own == []


def test_a_lost_listening_connection_ends_in_a_resync(pg_databases: Any, pg_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[-1]

    async def body() -> list[Any]:
        store = PostgresStore(pg_url)
        try:
            heard = _listen(store)
            assert store._listener.connected.wait(10)
            pg_databases.cluster.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{dbname}' AND query LIKE 'LISTEN%'"
            )
            return await heard.wait_for(lambda s: Change(RESYNC, "", "") in s)
        finally:
            await store.close()

    assert Change(RESYNC, "", "") in asyncio.run(body())
