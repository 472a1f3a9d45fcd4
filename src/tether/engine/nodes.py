"""Node membership and its lease: who serves which app on a shared store, and for how long.

Each tether process is a node with a row in the store holding a lease; the lease is renewed by a
heartbeat and judged by the store's clock (``Tx.store_now``), never by this host's. An
instance's lease is (owner, epoch) on its row and lapses with its owner's node lease.

This node's own view of its lease ends *earlier* than the store's expiry: it counts from the
start of the renewal that granted it (a store's clock can only have moved less since) and stops
``lease_margin`` short, on this process's monotonic clock. When the view ends without a
successful renewal (the node was paused, the store was unreachable), the node stops acting on
its instances before any other node may claim them, and comes back under a new identity. Process
ids only speed a takeover up on one host (a node whose process is gone has its lease ended at
once); correctness rests on leases and fencing alone.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from tether.settings import Settings
from tether.store.base import NodeRow, Reader, Store, Tx

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
        self.node_id = self._new_id()
        self._ports = (0, 0)
        self._valid_until = 0.0  # monotonic seconds
        self.registered = False

    def _new_id(self) -> str:
        return f"{self.settings.app_id}@{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"

    @property
    def _lease_ns(self) -> int:
        return int(self.settings.node_lease_seconds * 1e9)

    def valid(self) -> bool:
        """True while this node may act on its instances (its own, conservative view)."""
        return self.registered and time.monotonic() < self._valid_until

    def _granted(self, started: float) -> None:
        s = self.settings
        self._valid_until = started + s.node_lease_seconds - s.lease_margin_seconds

    async def register(self, grpc_port: int = 0, http_port: int = 0) -> None:
        """Register under a fresh node id (a node that lost its lease never reuses its old one,
        so everything the old id owned is claimable, by this node too)."""
        if grpc_port or http_port:
            self._ports = (grpc_port, http_port)
        if self.registered:
            self.node_id = self._new_id()
        row = NodeRow(
            node_id=self.node_id,
            app_id=self.settings.app_id,
            host=self.host,
            pid=self.pid,
            grpc_port=self._ports[0],
            http_port=self._ports[1],
            started_at=time.time_ns(),
            heartbeat_at=0,
        )
        started = time.monotonic()
        lease = self._lease_ns
        await self.store.write(lambda tx: tx.register_node(row, lease))
        self.registered = True
        self._granted(started)

    async def renew(self) -> None:
        """Extend the lease; ``LeaseLost`` when it had already expired in the store."""
        started = time.monotonic()
        node_id, lease = self.node_id, self._lease_ns
        await self.store.write(lambda tx: tx.renew_node(node_id, lease))
        self._granted(started)

    async def abandon(self, old_node_id: str) -> None:
        """Remove a former identity's row, so what it owned is claimable at once."""
        await self.store.write(lambda tx: tx.delete_node(old_node_id))

    async def unregister(self) -> None:
        node_id = self.node_id
        self.registered = False
        await self.store.write(lambda tx: tx.delete_node(node_id))

    async def end_leases_of_gone_processes(self) -> bool:
        """End the lease of every node on this host whose process is gone; True if any."""
        rows = await self.store.read(lambda tx: tx.list_nodes())
        now = await self.store.read(lambda tx: tx.store_now(), keyed=True)
        gone = [
            r.node_id
            for r in rows
            if r.node_id != self.node_id
            and r.host == self.host
            and r.lease_expires > now
            and not pid_alive(r.pid)
        ]
        if not gone:
            return False

        def commit(tx: Tx) -> None:
            for node_id in gone:
                tx.expire_node(node_id)

        await self.store.write(commit)
        log.info("taking over from stopped node(s): %s", ", ".join(gone))
        return True

    async def live_nodes(self) -> list[NodeRow]:
        def read(tx: Reader) -> list[NodeRow]:
            now = tx.store_now()
            return [r for r in tx.list_nodes() if r.lease_expires > now]

        return await self.store.read(read)
