"""PostgreSQL backend: a connection pool, a small thread pool running each ``write(fn)`` as one
transaction on its own connection, and a ``LISTEN`` connection for other nodes' changes.

Durability: a write returns after PostgreSQL's ``COMMIT`` (``synchronous_commit`` as the server
has it, ``on`` by default: flushed to the WAL). Concurrent writers use concurrent connections and
PostgreSQL groups their WAL flushes, so there is no batching of our own.

Several nodes share a schema: every write announces what it changed (``pg_notify`` in the same
transaction, delivered at commit), and the listener hands other nodes' changes to the callback.

Round trips: ``BEGIN`` alone (below), then ``fn``'s statements in pipeline mode, where only a
read waits for its reply: the statements after the last read go out with the notification and
the ``COMMIT`` in one flush.

Outages: a pooled connection that died with the server is found when its ``BEGIN`` fails, and the
write moves to another connection (nothing of it had been sent). A call waits up to
``connect_wait`` seconds for a connection, then fails with ``StoreUnreachable``. Once the pool has
failed to connect for ``_RECONNECT_WINDOW`` seconds the store counts as down: calls then wait only
``_DOWN_WAIT`` for a connection (each wait starts a fresh attempt), so they fail fast during an
outage and the first attempt after the server is back (or after a failover: a multi-host string
with ``target_session_attrs=read-write`` lets libpq pick the new primary) succeeds within about a
second; the first new connection makes the store count as up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from tether.errors import StoreError
from tether.store.base import Change
from tether.store.postgres.config import describe, parse_target
from tether.store.postgres.errors import CommitOutcomeUnknown, translate
from tether.store.postgres.listener import ChangeListener, channel_name, payloads
from tether.store.postgres.migrate import migrate
from tether.store.postgres.queries import QUERIES as Q
from tether.store.postgres.tx import PostgresTx, StoreClock

T = TypeVar("T")
log = logging.getLogger(__name__)

# The pool gives up a failing reconnection after this long (its own default is 5 minutes of ever
# wider spaced attempts, at 1, 3, 7, 15, 31 s…: a server back after 20 s was noticed at 31 s).
_RECONNECT_WINDOW = 2.0
# How long a call waits for a connection while the store counts as down.
_DOWN_WAIT = 1.0

_BEGIN_WRITE = "BEGIN"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def connect_kwargs(conninfo: str, schema: str) -> dict[str, Any]:
    """Session settings every connection gets: the store's schema first on the search path, a
    bounded connect time, TCP keepalives (a vanished server is noticed)."""
    given = conninfo_to_dict(conninfo)
    options = f"{given.get('options') or ''} -c search_path={schema}".strip()
    kwargs: dict[str, Any] = {"options": options}
    defaults = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "10",
                "keepalives_interval": "5", "keepalives_count": "3",
                "application_name": "tether"}  # fmt: skip
    for key, value in defaults.items():
        if key not in given:
            kwargs[key] = value
    return kwargs


class PostgresStore:
    kind = "postgres"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 8,
        connect_wait: float = 10.0,
        safety_poll: float = 30.0,
    ) -> None:
        target = parse_target(url, schema)
        self.url = url
        self.schema = target.schema
        self.where = f"{describe(target.conninfo)} (schema {target.schema})"
        self._origin = uuid.uuid4().hex
        self._channel = channel_name(target.schema)
        self._kwargs = connect_kwargs(target.conninfo, target.schema)
        self._listener_callback: Callable[[Sequence[Change]], None] | None = None
        self._clock = StoreClock()
        self._closed = False
        self._connect_wait = connect_wait
        self._down = False  # the pool has been failing to connect; set and cleared by its threads
        # Told (seconds, 1) after each write's commit, from a pool thread (metrics): PostgreSQL
        # groups concurrent commits' WAL flushes itself, so every write is a commit of its own.
        self.on_commit: Callable[[float, int], None] | None = None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            target.conninfo,
            kwargs={"autocommit": True, **self._kwargs},
            min_size=1,
            max_size=pool_size,
            timeout=connect_wait,
            open=False,
            name=f"tether-{target.schema}",
            configure=self._connected,
            reconnect_timeout=_RECONNECT_WINDOW,
            reconnect_failed=self._unreachable,
        )
        # One direct connection first: a refused or misconfigured database fails now with the
        # server's own reason, where the pool would keep retrying until its timeout.
        try:
            with psycopg.connect(target.conninfo, autocommit=True, **self._kwargs) as conn:
                migrate(conn, target.schema)
            self._pool.open(wait=True, timeout=connect_wait)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise translate(exc, self.where, "opening the store") from exc
        except BaseException:
            self._pool.close()
            raise
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="tether-pg")
        self._listener = ChangeListener(
            target.conninfo,
            self._kwargs,
            target.schema,
            self._origin,
            self._on_changes,
            safety_poll=safety_poll,
        )
        self._listener.start()

    def _connected(self, conn: psycopg.Connection[Any]) -> None:
        if self._down:
            log.info("PostgreSQL store %s is reachable again", self.where)
        self._down = False

    def _unreachable(self, pool: object) -> None:
        if not self._down:
            log.warning("PostgreSQL store %s is unreachable; failing calls fast", self.where)
        self._down = True

    # -- change feed -----------------------------------------------------------------------------
    def set_change_listener(self, callback: Callable[[Sequence[Change]], None]) -> None:
        self._listener_callback = callback

    def _on_changes(self, changes: list[Change]) -> None:
        callback = self._listener_callback
        if callback is not None:
            callback(changes)

    # -- transactions ----------------------------------------------------------------------------
    async def write(self, fn: Callable[[PostgresTx], T]) -> T:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transact, fn, True)

    async def read(self, fn: Callable[[PostgresTx], T], *, keyed: bool = False) -> T:
        # ``keyed`` does not change anything here: every read is a network round trip, which
        # must not block the event loop.
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transact, fn, False)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection within ``connect_wait`` seconds, or within ``_DOWN_WAIT`` while
        the store counts as down (looked at again every ``_DOWN_WAIT``: a call already waiting
        when the store is found down fails then too); ``PoolTimeout`` otherwise."""
        deadline = time.monotonic() + self._connect_wait
        while True:
            left = deadline - time.monotonic()
            try:
                conn = self._pool.getconn(timeout=max(min(left, _DOWN_WAIT), 0.001))
                break
            except PoolTimeout:
                if self._down or left <= _DOWN_WAIT:
                    raise
        try:
            with conn:  # as the pool's own connection(): rolled back on error
                yield conn
        finally:
            self._pool.putconn(conn)

    def _transact(self, fn: Callable[[PostgresTx], T], write: bool) -> T:
        doing = "writing" if write else "reading"
        # A pooled connection may have died with the server: its BEGIN fails before anything of
        # ``fn`` was sent, so the transaction moves to the next connection.
        for attempt in range(self._pool.max_size + 1):
            began = committing = False
            try:
                with self._connection() as conn:
                    began_at = time.perf_counter()
                    conn.execute(_BEGIN_WRITE if write else _BEGIN_READ)
                    began = True
                    self._down = False  # a working connection: the store is up
                    tx = PostgresTx(conn, self._clock)
                    try:
                        # Pipeline mode: a statement whose result ``fn`` does not read goes out
                        # without waiting for its reply, so a write costs one round trip per
                        # read it makes plus one for the rest, the notification and the COMMIT.
                        with conn.pipeline():
                            result = fn(tx)
                            if write and tx.changes:
                                tx.cur.execute(
                                    Q["notify"],
                                    {
                                        "channel": self._channel,
                                        "payloads": payloads(self._origin, sorted(tx.changes)),
                                    },
                                )
                            committing = True
                            conn.execute("COMMIT")
                    except BaseException:
                        # A statement the server refused (or a Python error) leaves the
                        # transaction open or aborted, never committed: end it.
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                        raise
                    if write and self.on_commit is not None:
                        self.on_commit(time.perf_counter() - began_at, 1)
                    return result
            except PoolTimeout as exc:  # (an OperationalError too) no connection came in time
                raise translate(exc, self.where, doing) from exc
            except psycopg.OperationalError as exc:
                if not began and attempt < self._pool.max_size:
                    continue
                if committing and write and _outcome_unknown(exc):
                    raise CommitOutcomeUnknown(
                        f"the PostgreSQL store {self.where} went away while committing: this "
                        f"write may or may not have been stored ({_first_line(exc)}); retry "
                        "once the database is back"
                    ) from exc
                raise translate(exc, self.where, doing) from exc
            except psycopg.Error as exc:
                raise translate(exc, self.where, doing) from exc
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._listener.stop)
        self._executor.shutdown(wait=True)
        await loop.run_in_executor(None, self._pool.close)


def _outcome_unknown(exc: psycopg.Error) -> bool:
    """After the COMMIT was sent: could it have committed? Not if the server refused a
    statement of the transaction (the COMMIT then ends it uncommitted); it could if the
    connection went (no SQLSTATE) or the server was shutting down (class 08 or 57, which may
    come right after a commit)."""
    state = getattr(exc, "sqlstate", None) or ""
    return not state or state[:2] in ("08", "57")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
