"""SQLite backend: one writer thread doing group commits, a small pool of reader threads.

Durability: WAL with ``synchronous=FULL``, so a write is on disk when :meth:`write` returns.
Concurrent writers queue on the writer thread, which runs every queued function in one
transaction (each inside its own savepoint) and commits once: many turns, one fsync.

Several processes may share the file. Every commit records which instances it changed in the
``changes`` table (one row per instance and kind, tagged with the writing store's origin).
SQLite tells a connection when another connection has committed (``PRAGMA data_version``, a
shared-memory read); the idle writer thread checks it (adaptively, 10-100 ms), reads the new
change rows after its cursor, and hands the foreign ones to the change listener. Rows older
than a minute are pruned; a reader whose cursor fell behind the pruning gets ``RESYNC``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tether.errors import ConfigError, StoreError, Unavailable
from tether.store.base import RESYNC, Change
from tether.store.factory import private_dir
from tether.store.sqlite import files
from tether.store.sqlite.errors import is_full, translate
from tether.store.sqlite.schema import SCHEMA_VERSION, prepare
from tether.store.sqlite.tx import SqliteTx, StoreClock

T = TypeVar("T")
log = logging.getLogger(__name__)

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

_MAX_BATCH = 512
_BUSY_SECONDS = 30.0
# Another process's commit is noticed by polling PRAGMA data_version (a shared-memory read, no
# disk I/O) while the writer is idle: every 10 ms right after a change, backing off to 100 ms.
_CHANGE_POLL_MIN = 0.01
_CHANGE_POLL_MAX = 0.1
_CHANGES_KEPT_NS = 60 * 1_000_000_000
_PRUNE_EVERY = 256  # batches with changes between prunings
_FEED_PAGE = 5000


def busy_timeout() -> float:
    """Seconds a write waits for another process's lock before failing with StoreUnavailable
    (``$TETHER_SQLITE_BUSY_SECONDS``, default 30)."""
    raw = os.environ.get("TETHER_SQLITE_BUSY_SECONDS", "")
    try:
        value = float(raw) if raw else _BUSY_SECONDS
    except ValueError:
        raise ConfigError(
            f"TETHER_SQLITE_BUSY_SECONDS: {raw!r} is not a number of seconds"
        ) from None
    if value <= 0:
        raise ConfigError(f"TETHER_SQLITE_BUSY_SECONDS: {raw!r} must be positive")
    return value


def _connect(path: Path) -> sqlite3.Connection:
    busy = busy_timeout()
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def _presize_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Grow a new write-ahead log to its working size before the first real commit.

    Until the log first wraps (at the auto-checkpoint), every commit appends past the end of the
    file, and an fsync that must also record a new file size costs about twice one that does not
    (~0.3 vs ~0.15 ms here). A fresh store would pay that for its first few thousand commits, and
    SQLite deletes the log when the last connection closes, so every start would. The log is grown
    by a transaction that spills pages into it and is rolled back: frames past the last commit
    are ignored by every reader and overwritten by the next writer, so the data is untouched.
    """
    wal = Path(f"{path}-wal")
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    frames = max(0, int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])) + 64
    size = 32 + frames * (page + 24)
    if wal.exists() and wal.stat().st_size >= size:
        return
    if files.free_bytes(path) < 4 * size:
        # An optimisation only: on a nearly full disk the space is worth more than the speed.
        log.warning("little free disk space at %s: not growing the write-ahead log ahead", path)
        return
    cache = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute("PRAGMA cache_size = 16")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE tether_presize (b BLOB)")
            conn.executemany(
                "INSERT INTO tether_presize VALUES (zeroblob(?))", [(page - 64,)] * frames
            )
        except sqlite3.Error as exc:
            if not is_full(exc):
                raise
            log.warning("the disk filled up while growing the write-ahead log at %s", path)
        finally:
            if conn.in_transaction:  # SQLite rolls back by itself on some errors (disk full)
                conn.execute("ROLLBACK")
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
    if wal.exists():
        fd = os.open(wal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_Job = tuple[Callable[[SqliteTx], Any], asyncio.Future[Any]]


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.origin = uuid.uuid4().hex
        self._clock = StoreClock()
        foreign = files.foreign_problem(path)
        if foreign is not None:
            raise StoreError(f"refusing to use {path} as a tether store: {foreign}")
        try:
            private_dir(path.parent)
            files.private_file(path)
            self._writer_conn = _connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise translate(exc, f"cannot open the SQLite store {path}") from exc
        try:
            prepare(self._writer_conn, path)
            _presize_wal(self._writer_conn, path)
            self._cursor = int(
                self._writer_conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            )
        except sqlite3.Error as exc:
            self._writer_conn.close()
            raise translate(exc, f"cannot prepare the SQLite store {path}") from exc
        except BaseException:
            self._writer_conn.close()
            raise
        self._identity = files.identity(path)
        self.problem: str | None = None  # set when the store can no longer be written
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._listener: Callable[[Sequence[Change]], None] | None = None
        # Told (seconds, jobs) after each group commit, from the writer thread (metrics).
        self.on_commit: Callable[[float, int], None] | None = None
        self._closed = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._read_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tether-sqlite-read")
        self._batches_with_changes = 0
        self._writer = threading.Thread(
            target=self._write_loop, name="tether-sqlite-writer", daemon=True
        )
        self._writer.start()

    def set_change_listener(self, callback: Callable[[Sequence[Change]], None]) -> None:
        self._listener = callback

    async def write(self, fn: Callable[[SqliteTx], T]) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future))
        return await future

    def _reader(self) -> SqliteTx:
        tx: SqliteTx | None = getattr(self._local, "tx", None)
        if tx is None:
            try:
                conn = _connect(self.path)
            except sqlite3.Error as exc:
                raise translate(exc, f"opening a reader of {self.path}") from exc
            with self._readers_lock:
                self._readers.append(conn)
            tx = SqliteTx(conn, self._clock)
            self._local.tx = tx
        return tx

    async def read(self, fn: Callable[[SqliteTx], T], *, keyed: bool = False) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        if keyed:
            # A WAL reader never waits for the writer, and a lookup by key is a few page reads:
            # cheaper in this thread than the two thread hops of the pool.
            return self._read_now(fn)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, self._read_now, fn)

    def _read_now(self, fn: Callable[[SqliteTx], T]) -> T:
        tx = self._reader()
        tx.begin(write=False)
        try:
            tx.c.execute("BEGIN")
            try:
                return fn(tx)
            finally:
                tx.c.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate(exc, f"reading {self.path}") from exc

    def _write_loop(self) -> None:
        conn = self._writer_conn
        tx = SqliteTx(conn, self._clock)
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        poll = _CHANGE_POLL_MIN
        while True:
            try:
                first = self._jobs.get(timeout=poll)
            except queue.Empty:
                first = None
                poll = min(poll * 1.5, _CHANGE_POLL_MAX)
            else:
                if first is None:
                    break
                batch = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        self._jobs.put(None)
                        break
                    batch.append(job)
                self._run_batch(tx, batch)
            if first is None:
                self._still_the_file()  # health turns unhealthy even with no writes coming
            try:
                current = conn.execute("PRAGMA data_version").fetchone()[0]
                if current != data_version:
                    data_version = current
                    poll = _CHANGE_POLL_MIN
                    self._read_feed(conn)
            except sqlite3.Error:
                log.warning("reading the change feed of %s failed", self.path, exc_info=True)
            except Exception:
                log.exception("the change listener failed")
        conn.close()

    def _read_feed(self, conn: sqlite3.Connection) -> None:
        """Hand other writers' changes after the cursor to the listener."""
        while True:
            oldest = conn.execute("SELECT MIN(seq) FROM changes").fetchone()[0]
            rows = conn.execute(
                "SELECT seq, origin, kind, app_id, instance_id FROM changes "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._cursor, _FEED_PAGE),
            ).fetchall()
            changes: list[Change] = []
            if oldest is not None and oldest > self._cursor + 1 and self._cursor:
                changes.append(Change(RESYNC, "", ""))  # pruned past our cursor
            if rows:
                self._cursor = rows[-1][0]
            changes.extend(Change(r[2], r[3], r[4]) for r in rows if r[1] != self.origin)
            if changes and self._listener is not None:
                self._listener(changes)
            if len(rows) < _FEED_PAGE:
                return

    def _record_changes(self, tx: SqliteTx, changes: set[tuple[str, str, str]]) -> None:
        if not changes:
            return
        at = tx.store_now()
        tx.c.executemany(
            "INSERT INTO changes (origin, kind, app_id, instance_id, at) VALUES (?, ?, ?, ?, ?)",
            [(self.origin, kind, app, instance, at) for kind, app, instance in sorted(changes)],
        )
        self._batches_with_changes += 1
        if self._batches_with_changes % _PRUNE_EVERY == 0:
            tx.c.execute("DELETE FROM changes WHERE at < ?", (at - _CHANGES_KEPT_NS,))

    def _run_batch(self, tx: SqliteTx, batch: list[_Job]) -> None:
        conn = tx.c
        outcomes: list[tuple[bool, Any]] = []
        changes: set[tuple[str, str, str]] = set()
        # A job that fails is undone alone: its savepoint is rolled back (a lone job needs none;
        # its failure rolls the transaction back).
        alone = len(batch) == 1
        began = time.perf_counter()
        if not self._still_the_file():
            refused = Unavailable(f"refusing to write: {self.problem}")
            self._settle(batch, [(False, refused)] * len(batch))
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            tx.begin(write=True)
            for fn, _ in batch:
                if not alone:
                    conn.execute("SAVEPOINT job")
                tx.start_job()
                try:
                    outcomes.append((True, fn(tx)))
                    if not alone:
                        conn.execute("RELEASE job")
                    changes |= tx.changes
                except Exception as exc:  # the caller's error: undo its changes only
                    conn.execute("ROLLBACK" if alone else "ROLLBACK TO job")
                    if not alone:
                        conn.execute("RELEASE job")
                    if isinstance(exc, sqlite3.Error):
                        translated = translate(exc, f"writing {self.path}")
                        translated.__cause__ = exc
                        exc = translated
                    outcomes.append((False, exc))
            if conn.in_transaction:
                self._record_changes(tx, changes)
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = translate(exc, f"committing to {self.path}")
            error.__cause__ = exc
            outcomes = [(False, error)] * len(batch)
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - began, len(batch))
        self._settle(batch, outcomes)

    @staticmethod
    def _settle(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        # One wake-up per event loop for the whole batch, not one per job.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, ok, value))
        for loop, settled in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_all, settled)

    def _still_the_file(self) -> bool:
        """Whether the path still names the file this store opened (not deleted, not replaced):
        writes into an unlinked file would be acknowledged and lost on restart."""
        if self.problem is None and files.identity(self.path) != self._identity:
            self.problem = (
                f"the store file {self.path} was deleted or replaced while tether ran; "
                "restart tether to open the file now at that path"
            )
            log.error("%s", self.problem)
        return self.problem is None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._read_pool.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
