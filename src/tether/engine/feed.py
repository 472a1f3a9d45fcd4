"""The change feed: other processes' commits, keyed by instance, wake only what they concern.

The store delivers :class:`~tether.store.base.Change` rows (from its own thread); the loop here
takes them in batches and, per instance: refreshes the inbox of an instance this node runs
(new rows joined, rows deleted elsewhere forgotten), forgets an instance that was purged or
moved to another owner, asks for a claim when an instance of this app appears without an owner
or a task of this app without a node, and wakes the instance's waiters. ``RESYNC`` (the feed
may have missed changes) refreshes every owned instance and claims.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tether import pb
from tether.engine.convert import message_from_row
from tether.engine.host import Host
from tether.errors import TetherError
from tether.store.base import (
    CLAIMABLE,
    INBOX,
    INSTANCE,
    RESYNC,
    TASK,
    Change,
    InstanceRow,
    MessageRow,
    Reader,
)

log = logging.getLogger(__name__)


class Feed(Host):
    _feed_pending: list[Change]
    _feed_wake: asyncio.Event

    def on_store_changed(self, changes: Sequence[Change]) -> None:
        """The store's listener (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._take_changes, list(changes))

    def _take_changes(self, changes: list[Change]) -> None:
        self._feed_pending.extend(changes)
        self._feed_wake.set()

    async def _feed_loop(self) -> None:
        while True:
            await self._feed_wake.wait()
            self._feed_wake.clear()
            changes, self._feed_pending = self._feed_pending, []
            try:
                await self._apply(changes)
            except TetherError:
                log.exception("applying other processes' changes failed; resynchronising")
                self._take_changes([Change(RESYNC, "", "")])
                await asyncio.sleep(0.5)

    async def _apply(self, changes: list[Change]) -> None:
        if any(c.kind == RESYNC for c in changes):
            for instance_id in list(self.active):
                await self.refresh(instance_id)
            self.lease_check_wanted()
            self.notify_all()
            return
        touched = dict.fromkeys(c.instance_id for c in changes if c.kind in (INBOX, INSTANCE))
        claim = any(c.kind in (TASK, CLAIMABLE) and c.app_id == self.app_id for c in changes)
        for instance_id in touched:
            if instance_id in self.active:
                await self.refresh(instance_id)
        for change in changes:
            if change.kind == INSTANCE:
                self.notify(change.instance_id)
        if claim:
            self.claim_wanted()

    async def refresh(self, instance_id: str) -> None:
        """Bring an owned instance's inbox in line with the store after a foreign commit."""

        def read(tx: Reader) -> tuple[InstanceRow | None, list[MessageRow]]:
            return tx.get_instance(instance_id), tx.load_messages(instance_id)

        before = self.active.get(instance_id)
        # Messages in memory now are committed unless unsaved; one of them missing from the read
        # below was deleted by another process (e.g. `tether scheduler delete` of a timer).
        known = (
            [m.msg_id for m in before.state.inbox if m.msg_id not in before.unsaved]
            if before is not None
            else []
        )
        row, rows = await self.store.read(read, keyed=True)
        active = self.active.get(instance_id)
        if active is None or active is not before:
            return
        if (
            row is None
            or row.owner != self.node_id
            or row.epoch != active.epoch
            or row.status in pb.TERMINAL_STATUSES
        ):
            if active.creation is None:  # a start not stored yet is not in the store by design
                log.info("instance %r was purged or moved elsewhere; forgetting it", instance_id)
                self.retire(instance_id)
            return
        added = False
        for message_row in rows:
            added |= active.add_message(message_from_row(message_row))
        if not active.committing and active.creation is None:
            stored = {r.msg_id for r in rows}
            in_flight = set(active.plan.consumed) if active.plan is not None else set()
            active.remove_messages([m for m in known if m not in stored and m not in in_flight])
        if added:
            self.schedule(active)
