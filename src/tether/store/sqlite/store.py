"""SQLite backend: one writer thread doing group commits, a small pool of reader threads.

Durability: WAL with ``synchronous=FULL``, so a write is on disk when :meth:`write` returns.
Concurrent writers queue on the writer thread, which runs every queued function in one
transaction (each inside its own savepoint) and commits once: many turns, one fsync.

Several processes may share the file. SQLite tells a connection when another connection has
committed (``PRAGMA data_version``); the idle writer thread checks it (adaptively, 10-100 ms)
and calls the change listener: that is how a tether learns that another process wrote to its
instances.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from tether import pb
from tether.errors import StoreError
from tether.store.base import (
    InstanceFilter,
    InstanceRow,
    MessageRow,
    NameStatsRow,
    NodeRow,
    StoreSize,
    TaskRow,
)
from tether.store.sqlite import stats

T = TypeVar("T")
log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_MAX_BATCH = 512
# Another process's commit is noticed by polling PRAGMA data_version (a shared-memory read, no
# disk I/O) while the writer is idle: every 10 ms right after a change, backing off to 100 ms.
_CHANGE_POLL_MIN = 0.01
_CHANGE_POLL_MAX = 0.1
_TERMINAL = tuple(sorted(pb.TERMINAL_STATUSES))

_INSTANCE_COLUMNS = (
    "instance_id, app_id, name, status, execution_id, created_at, updated_at, started_at, "
    "completed_at, scheduled_start, input, output, custom_status, failure, parent_instance_id, "
    "parent, stall, version_name, tags, owner"
)


_UPSERT_INSTANCE = (
    f"INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES ({','.join('?' * 20)}) "
    "ON CONFLICT (instance_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in (x.strip() for x in _INSTANCE_COLUMNS.split(","))
        if c != "instance_id"
    )
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
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
    if wal.exists() and wal.stat().st_size >= 32 + frames * (page + 24):
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
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
    if wal.exists():
        fd = os.open(wal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _instance(row: Sequence[Any]) -> InstanceRow:
    return InstanceRow(
        instance_id=row[0],
        app_id=row[1],
        name=row[2],
        status=row[3],
        execution_id=row[4],
        created_at=row[5],
        updated_at=row[6],
        started_at=row[7],
        completed_at=row[8],
        scheduled_start=row[9],
        input=row[10],
        output=row[11],
        custom_status=row[12],
        failure=row[13],
        parent_instance_id=row[14],
        parent=row[15],
        stall=row[16],
        version_name=row[17],
        tags=json.loads(row[18]) if row[18] else {},
        owner=row[19],
    )


def _message(row: Sequence[Any]) -> MessageRow:
    return MessageRow(
        msg_id=row[0],
        instance_id=row[1],
        app_id=row[2],
        event=row[3],
        visible_at=row[4],
        execution_id=row[5],
        order=row[6],
    )


def _task(row: Sequence[Any]) -> TaskRow:
    return TaskRow(
        instance_id=row[0],
        task_id=row[1],
        execution_id=row[2],
        app_id=row[3],
        request=row[4],
        created_at=row[5],
        owner=row[6],
    )


def _marks(n: int) -> str:
    return ",".join("?" * n)


_ORDER_COLUMNS = ("instance_id", "created_at", "updated_at")


def _instance_where(flt: InstanceFilter) -> tuple[list[str], list[Any]]:
    """The WHERE terms of an instance filter, without its cursor."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("app_id", flt.app_id),
        ("name", flt.name),
        ("parent_instance_id", flt.parent_instance_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if flt.has_parent is not None:
        where.append(f"parent_instance_id IS {'NOT ' if flt.has_parent else ''}NULL")
    if flt.statuses:
        where.append(f"status IN ({_marks(len(flt.statuses))})")
        args.extend(flt.statuses)
    for column, low, high in (
        ("created_at", flt.created_from, flt.created_to),
        ("updated_at", flt.updated_from, flt.updated_to),
    ):
        if low is not None:
            where.append(f"{column} >= ?")
            args.append(low)
        if high is not None:
            where.append(f"{column} < ?")
            args.append(high)
    if flt.id_prefix:
        # A range on the primary key (BINARY collation compares UTF-8 bytes): the index serves it.
        where.append("instance_id >= ? AND instance_id < ?")
        args.extend([flt.id_prefix, flt.id_prefix + "\U0010ffff"])
    return where, args


class SqliteTx:
    """Reads and writes on one connection; used inside the writer's transaction or for reads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    # -- reads -------------------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> InstanceRow | None:
        row = self.c.execute(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return _instance(row) if row else None

    def instance_route(self, instance_id: str) -> tuple[str, int, str] | None:
        row = self.c.execute(
            "SELECT app_id, status, execution_id FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def load_history(self, instance_id: str) -> list[bytes]:
        rows = self.c.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [r[0] for r in rows]

    def load_messages(self, instance_id: str) -> list[MessageRow]:
        rows = self.c.execute(
            "SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord "
            "FROM inbox WHERE instance_id = ? ORDER BY ord, msg_id",
            (instance_id,),
        )
        return [_message(r) for r in rows]

    def load_tasks(self, instance_id: str) -> list[TaskRow]:
        rows = self.c.execute(
            "SELECT instance_id, task_id, execution_id, app_id, request, created_at, owner "
            "FROM tasks WHERE instance_id = ? ORDER BY task_id",
            (instance_id,),
        )
        return [_task(r) for r in rows]

    def list_instances(self, flt: InstanceFilter) -> list[InstanceRow]:
        where, args = _instance_where(flt)
        if flt.order_by not in _ORDER_COLUMNS:
            raise ValueError(f"cannot order instances by {flt.order_by!r}")
        key = flt.order_by
        after = "<" if flt.descending else ">"
        if flt.after_id is not None and key == "instance_id":
            where.append(f"instance_id {after} ?")
            args.append(flt.after_id)
        elif flt.after_id is not None and flt.after_key is not None:
            where.append(f"({key}, instance_id) {after} (?, ?)")
            args.extend([flt.after_key, flt.after_id])
        sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = " DESC" if flt.descending else ""
        sql += f" ORDER BY {key}{direction}"
        if key != "instance_id":
            sql += f", instance_id{direction}"
        if flt.limit is not None:
            sql += " LIMIT ?"
            args.append(flt.limit)
        return [_instance(r) for r in self.c.execute(sql, args)]

    def count_instances(self, flt: InstanceFilter) -> dict[int, int]:
        where, args = _instance_where(flt)
        sql = "SELECT status, COUNT(*) FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY status"
        return {int(status): int(n) for status, n in self.c.execute(sql, args)}

    def list_instance_ids(
        self, app_id: str | None, after: str | None, limit: int | None
    ) -> list[str]:
        sql = "SELECT instance_id FROM instances WHERE 1=1"
        args: list[Any] = []
        if app_id is not None:
            sql += " AND app_id = ?"
            args.append(app_id)
        if after is not None:
            sql += " AND instance_id > ?"
            args.append(after)
        sql += " ORDER BY instance_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [r[0] for r in self.c.execute(sql, args)]

    def list_timers(self, app_id: str | None) -> list[MessageRow]:
        sql = "SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord FROM inbox"
        args: list[Any] = []
        if app_id is not None:
            sql += " WHERE app_id = ?"
            args.append(app_id)
        sql += " ORDER BY visible_at, msg_id"
        return [_message(r) for r in self.c.execute(sql, args)]

    def list_nodes(self) -> list[NodeRow]:
        rows = self.c.execute(
            "SELECT node_id, app_id, host, pid, grpc_port, http_port, started_at, heartbeat_at "
            "FROM nodes ORDER BY node_id"
        )
        return [NodeRow(*r) for r in rows]

    def inbox_index(self, app_id: str) -> list[tuple[int, str]]:
        rows = self.c.execute("SELECT msg_id, instance_id FROM inbox WHERE app_id = ?", (app_id,))
        return [(r[0], r[1]) for r in rows]

    def check_integrity(self) -> list[str]:
        problems = [r[0] for r in self.c.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphans = self.c.execute(
            "SELECT COUNT(*) FROM history "
            "WHERE instance_id NOT IN (SELECT instance_id FROM instances)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} history rows without an instance")
        orphans = self.c.execute(
            "SELECT COUNT(*) FROM inbox "
            "WHERE instance_id NOT IN (SELECT instance_id FROM instances)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} inbox rows without an instance")
        gaps = self.c.execute(
            "SELECT instance_id FROM history GROUP BY instance_id "
            "HAVING MIN(seq) != 0 OR MAX(seq) != COUNT(*) - 1"
        ).fetchall()
        problems.extend(f"history of {g[0]!r} has gaps" for g in gaps)
        return problems

    def workflow_stats(
        self,
        since: int,
        until: int,
        bucket_ns: int,
        app_id: str | None,
        percentiles: Sequence[int],
        top_failures: int,
    ) -> list[NameStatsRow]:
        return stats.workflow_stats(
            self.c, since, until, bucket_ns, app_id, percentiles, top_failures
        )

    def store_size(self) -> StoreSize:
        return stats.store_size(self.c)

    # -- writes ------------------------------------------------------------------------------
    def upsert_instance(self, row: InstanceRow) -> None:
        # An UPSERT, not INSERT OR REPLACE: updating in place leaves untouched indexes alone,
        # where REPLACE deletes and re-inserts the row in every index on every turn.
        self.c.execute(
            _UPSERT_INSTANCE,
            (
                row.instance_id,
                row.app_id,
                row.name,
                row.status,
                row.execution_id,
                row.created_at,
                row.updated_at,
                row.started_at,
                row.completed_at,
                row.scheduled_start,
                row.input,
                row.output,
                row.custom_status,
                row.failure,
                row.parent_instance_id,
                row.parent,
                row.stall,
                row.version_name,
                json.dumps(row.tags) if row.tags else None,
                row.owner,
            ),
        )

    def delete_instance(self, instance_id: str) -> None:
        for table in ("history", "inbox", "tasks", "instances"):
            self.c.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def append_history(self, instance_id: str, first_seq: int, events: Sequence[bytes]) -> None:
        if not events:
            return
        self.c.executemany(
            "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
            [(instance_id, first_seq + i, e) for i, e in enumerate(events)],
        )

    def clear_history(self, instance_id: str) -> None:
        self.c.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    def add_messages(self, rows: Sequence[MessageRow]) -> None:
        if not rows:
            return
        self.c.executemany(
            "INSERT INTO inbox (msg_id, instance_id, app_id, event, visible_at, execution_id, ord) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (r.msg_id, r.instance_id, r.app_id, r.event, r.visible_at, r.execution_id, r.order)
                for r in rows
            ],
        )

    def delete_messages(self, msg_ids: Sequence[int]) -> None:
        if not msg_ids:
            return
        self.c.executemany("DELETE FROM inbox WHERE msg_id = ?", [(m,) for m in msg_ids])

    def clear_messages(self, instance_id: str, only_execution: str | None = None) -> None:
        if only_execution is None:
            self.c.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        else:
            self.c.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND execution_id = ?",
                (instance_id, only_execution),
            )

    def add_tasks(self, rows: Sequence[TaskRow]) -> None:
        if not rows:
            return
        self.c.executemany(
            "INSERT OR REPLACE INTO tasks "
            "(instance_id, task_id, execution_id, app_id, request, created_at, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.instance_id,
                    r.task_id,
                    r.execution_id,
                    r.app_id,
                    r.request,
                    r.created_at,
                    r.owner,
                )
                for r in rows
            ],
        )

    def take_task(self, instance_id: str, execution_id: str | None, task_id: int) -> bool:
        if execution_id is None:
            cur = self.c.execute(
                "DELETE FROM tasks WHERE instance_id = ? AND task_id = ?", (instance_id, task_id)
            )
        else:
            cur = self.c.execute(
                "DELETE FROM tasks WHERE instance_id = ? AND task_id = ? AND execution_id = ?",
                (instance_id, task_id, execution_id),
            )
        return cur.rowcount > 0

    def clear_tasks(self, instance_id: str) -> None:
        self.c.execute("DELETE FROM tasks WHERE instance_id = ?", (instance_id,))

    def claim_instances(self, node_id: str, app_id: str, live_nodes: Sequence[str]) -> list[str]:
        live = list(live_nodes)
        rows = self.c.execute(
            "UPDATE instances SET owner = ? WHERE app_id = ? "
            f"AND status NOT IN ({_marks(len(_TERMINAL))}) "
            f"AND (owner IS NULL OR owner NOT IN ({_marks(len(live))})) RETURNING instance_id",
            (node_id, app_id, *_TERMINAL, *live),
        ).fetchall()
        return [r[0] for r in rows]

    def claim_instance(self, instance_id: str, node_id: str, live_nodes: Sequence[str]) -> bool:
        live = list(live_nodes)
        cur = self.c.execute(
            f"UPDATE instances SET owner = ? WHERE instance_id = ? "
            f"AND (owner IS NULL OR owner = ? OR owner NOT IN ({_marks(len(live))}))",
            (node_id, instance_id, node_id, *live),
        )
        return cur.rowcount > 0

    def claim_tasks(self, node_id: str, app_id: str, live_nodes: Sequence[str]) -> list[TaskRow]:
        live = list(live_nodes)
        rows = self.c.execute(
            f"UPDATE tasks SET owner = ? WHERE app_id = ? "
            f"AND (owner IS NULL OR owner NOT IN ({_marks(len(live))})) "
            "RETURNING instance_id, task_id, execution_id, app_id, request, created_at, owner",
            (node_id, app_id, *live),
        ).fetchall()
        return [_task(r) for r in rows]

    def upsert_node(self, row: NodeRow) -> None:
        self.c.execute(
            "INSERT OR REPLACE INTO nodes "
            "(node_id, app_id, host, pid, grpc_port, http_port, started_at, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.node_id,
                row.app_id,
                row.host,
                row.pid,
                row.grpc_port,
                row.http_port,
                row.started_at,
                row.heartbeat_at,
            ),
        )

    def delete_node(self, node_id: str) -> None:
        self.c.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))


_Job = tuple[Callable[[SqliteTx], Any], asyncio.Future[Any]]


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer_conn = _connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {path}: {exc}") from exc
        try:
            self._init_schema(self._writer_conn)
            _presize_wal(self._writer_conn, path)
        except sqlite3.Error as exc:
            self._writer_conn.close()
            raise StoreError(f"cannot prepare the SQLite store {path}: {exc}") from exc
        except BaseException:
            self._writer_conn.close()
            raise
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._listener: Callable[[], None] | None = None
        self._closed = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._read_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tether-sqlite-read")
        self._writer = threading.Thread(
            target=self._write_loop, name="tether-sqlite-writer", daemon=True
        )
        self._writer.start()

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        schema = resources.files("tether.store.sqlite").joinpath("schema.sql").read_text()
        # Every statement is CREATE ... IF NOT EXISTS: safe for several processes at once.
        conn.executescript(schema)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if found != SCHEMA_VERSION:
            raise StoreError(
                f"the store has schema version {found}, this tether expects {SCHEMA_VERSION}; "
                "upgrade tether or point --store at another file"
            )

    def set_change_listener(self, callback: Callable[[], None]) -> None:
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
            conn = _connect(self.path)
            with self._readers_lock:
                self._readers.append(conn)
            tx = SqliteTx(conn)
            self._local.tx = tx
        return tx

    async def read(self, fn: Callable[[SqliteTx], T], *, keyed: bool = False) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        if keyed:
            # A WAL reader never waits for the writer, and a lookup by key is a few page reads:
            # cheaper in this thread than the two thread hops of the pool.
            return self._read_now(fn)
        return await asyncio.get_running_loop().run_in_executor(
            self._read_pool, self._read_now, fn
        )

    def _read_now(self, fn: Callable[[SqliteTx], T]) -> T:
        tx = self._reader()
        tx.c.execute("BEGIN")
        try:
            return fn(tx)
        except sqlite3.Error as exc:
            raise StoreError(f"reading {self.path}: {exc}") from exc
        finally:
            tx.c.execute("COMMIT")

    def _write_loop(self) -> None:
        conn = self._writer_conn
        tx = SqliteTx(conn)
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
            current = conn.execute("PRAGMA data_version").fetchone()[0]
            if current != data_version:
                data_version = current
                poll = _CHANGE_POLL_MIN
                if self._listener is not None:
                    self._listener()
        conn.close()

    def _run_batch(self, tx: SqliteTx, batch: list[_Job]) -> None:
        conn = tx.c
        outcomes: list[tuple[bool, Any]] = []
        # A job that fails is undone alone: its savepoint is rolled back (a lone job needs none;
        # its failure rolls the transaction back).
        alone = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _ in batch:
                if not alone:
                    conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, fn(tx)))
                    if not alone:
                        conn.execute("RELEASE job")
                except Exception as exc:  # the caller's error: undo its changes only
                    conn.execute("ROLLBACK" if alone else "ROLLBACK TO job")
                    if not alone:
                        conn.execute("RELEASE job")
                    if isinstance(exc, sqlite3.Error):
                        exc = StoreError(f"writing {self.path}: {exc}")
                    outcomes.append((False, exc))
            if conn.in_transaction:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"committing to {self.path}: {exc}")
            outcomes = [(False, error)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per job.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, ok, value))
        for loop, settled in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_all, settled)

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
