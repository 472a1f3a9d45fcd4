"""The change feed's receiving end: a connection that ``LISTEN``s on the schema's channel and
turns other stores' notifications into calls of the change callback.

Notifications are lost while the connection is down, so after every reconnection (and on a slow
safety poll, in case a notification was dropped anyway) the callback gets a ``RESYNC`` change:
reconcile everything from the store.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from tether.store.base import RESYNC, Change
from tether.store.postgres.queries import QUERIES as Q

log = logging.getLogger(__name__)

# Room in one NOTIFY payload (PostgreSQL's limit is 8000 bytes); a longer change is sent as a
# RESYNC of its app.
MAX_PAYLOAD = 7900


def channel_name(schema: str) -> str:
    return f"tether_changes_{schema}"


def payloads(origin: str, changes: Sequence[tuple[str, str, str]]) -> list[str]:
    out: list[str] = []
    for kind, app_id, instance_id in changes:
        text = json.dumps([origin, kind, app_id, instance_id])
        if len(text.encode()) > MAX_PAYLOAD:
            text = json.dumps([origin, RESYNC, "", ""])
        out.append(text)
    return list(dict.fromkeys(out))


def parse(payload: str) -> tuple[str, Change] | None:
    try:
        origin, kind, app_id, instance_id = json.loads(payload)
    except (ValueError, TypeError):
        return None
    return str(origin), Change(str(kind), str(app_id), str(instance_id))


class ChangeListener:
    def __init__(
        self,
        conninfo: str,
        connect_kwargs: dict[str, Any],
        schema: str,
        origin: str,
        deliver: Callable[[list[Change]], None],
        *,
        safety_poll: float = 30.0,
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = connect_kwargs
        self._channel = channel_name(schema)
        self._origin = origin
        self._deliver = deliver
        self._safety_poll = safety_poll
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tether-pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = 0.1
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, **self._kwargs) as conn:
                    conn.execute(sql.SQL(Q["listen"]).format(channel=sql.Identifier(self._channel)))
                    self.connected.set()
                    backoff = 0.1
                    if not first:  # notifications sent while we were away are lost
                        self._deliver([Change(RESYNC, "", "")])
                    first = False
                    self._listen(conn)
            except psycopg.Error as exc:
                self.connected.clear()
                if self._stop.is_set():
                    break
                # Said once per outage; the retries that follow are routine.
                log.log(
                    logging.WARNING if backoff == 0.1 else logging.DEBUG,
                    "PostgreSQL change feed disconnected (%s); reconnecting in %.1fs",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        waited = 0.0
        tick = 0.25  # how often a stop request is noticed
        while not self._stop.is_set():
            got = 0
            for note in conn.notifies(timeout=tick):
                got += 1
                parsed = parse(note.payload)
                if parsed is not None and parsed[0] != self._origin:
                    self._deliver([parsed[1]])
            waited = 0.0 if got else waited + tick
            if waited >= self._safety_poll:
                waited = 0.0
                conn.execute("SELECT 1")  # also notices a dead connection
                self._deliver([Change(RESYNC, "", "")])
