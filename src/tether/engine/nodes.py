"""Node membership: who serves which app on a shared store, and who is still alive.

Each tether process is a node with a row in the store, refreshed by a heartbeat. Instances and
activity tasks carry the node that owns them; a node whose heartbeat has lapsed (or, on this host,
whose process is gone) loses them to a live node of the same app.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from tether.engine.convert import wall_ns as now_ns
from tether.settings import Settings
from tether.store.base import NodeRow, Store

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NodeRegistry:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.node_id = f"{settings.app_id}@{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self._row: NodeRow | None = None
        self._known_dead: set[str] = set()

    async def register(self, grpc_port: int, http_port: int) -> None:
        now = now_ns()
        self._row = NodeRow(
            node_id=self.node_id,
            app_id=self.settings.app_id,
            host=self.host,
            pid=self.pid,
            grpc_port=grpc_port,
            http_port=http_port,
            started_at=now,
            heartbeat_at=now,
        )
        row = self._row
        await self.store.write(lambda tx: tx.upsert_node(row))

    async def unregister(self) -> None:
        await self.store.write(lambda tx: tx.delete_node(self.node_id))

    def _alive(self, row: NodeRow, now: int) -> bool:
        if row.node_id == self.node_id:
            return True
        if row.host == self.host and not pid_alive(row.pid):
            return False
        return now - row.heartbeat_at < self.settings.node_lease_seconds * 1e9

    async def live_node_ids(self) -> list[str]:
        rows = await self.store.read(lambda tx: tx.list_nodes())
        now = now_ns()
        return [r.node_id for r in rows if self._alive(r, now)] + [self.node_id]

    async def nodes(self) -> list[NodeRow]:
        rows = await self.store.read(lambda tx: tx.list_nodes())
        now = now_ns()
        return [r for r in rows if self._alive(r, now)]

    async def heartbeat(self) -> bool:
        """Refresh this node's row; True when some other node was found dead (and removed)."""
        assert self._row is not None
        self._row.heartbeat_at = now_ns()
        row = self._row
        rows = await self.store.read(lambda tx: tx.list_nodes())
        now = now_ns()
        dead = [r.node_id for r in rows if not self._alive(r, now)]

        def commit(tx: object) -> None:
            tx.upsert_node(row)  # type: ignore[attr-defined]
            for node_id in dead:
                tx.delete_node(node_id)  # type: ignore[attr-defined]

        await self.store.write(commit)
        if dead:
            log.info("taking over from stopped node(s): %s", ", ".join(dead))
        return bool(dead)
