"""The runtime: this node's life cycle, its leases, and its worker streams.

It assembles the parts (turns, activities, timers, change feed, waiters; see
:mod:`tether.engine.host` for the write path) and runs membership in two loops: one renews this
node's lease every heartbeat and, when this node's own view of the lease ends unrenewed, drops
every instance and task from memory and comes back under a new node identity before another node
may claim them; the other claims (a bounded, fair share of) instances and tasks left without a
live owner. Renewals never wait for claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tether.engine.activities import Activities
from tether.engine.dispatch import WorkerStream
from tether.engine.feed import Feed
from tether.engine.timers import Timers
from tether.engine.turns import Turns, task_spec
from tether.engine.waiters import Condition, Waiters
from tether.errors import LeaseLost, TetherError
from tether.settings import Settings
from tether.store.base import Change, InstanceRow, Store

log = logging.getLogger(__name__)


class Runtime(Activities, Turns, Timers, Feed, Waiters):
    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings, store)
        self.dispatcher.on_connect = self._on_worker_connect
        self._watchers: dict[str, dict[asyncio.Future[InstanceRow | None], Condition]] = {}
        self._timer_heap: list[tuple[int, str]] = []
        self._timer_wake = asyncio.Event()
        self._feed_pending: list[Change] = []
        self._feed_wake = asyncio.Event()
        self._lease_wake = asyncio.Event()
        self._claim_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._former_ids: list[str] = []  # identities given up, their rows still to delete

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self, grpc_port: int = 0, http_port: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        await self.nodes.register(grpc_port, http_port)
        self.store.set_change_listener(self.on_store_changed)
        self.running = True
        await self.observer.start(self)
        # A node of this host that died (e.g. this sidecar's previous run) need not be waited for.
        await self.nodes.end_leases_of_gone_processes()
        resumed = await self._claim()
        if resumed:
            log.info("resumed %d instance(s) from the store", resumed)
        self._tasks = [
            asyncio.create_task(self._timer_loop(), name="tether-timers"),
            asyncio.create_task(self._feed_loop(), name="tether-feed"),
            asyncio.create_task(self._lease_loop(), name="tether-lease"),
            asyncio.create_task(self._claim_loop(), name="tether-claims"),
        ]

    async def stop(self) -> None:
        """Stop taking work, let in-flight commits finish, and leave the node registry."""
        if not self.running:
            return
        self.running = False
        self.dispatcher.close_all()
        for active in self.active.values():
            active.unseat()  # no turn will carry these results now: write them on their own
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending = [t for t in self._background if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)
        with contextlib.suppress(TetherError):
            await self.nodes.unregister()
        await self.observer.close()
        for futures in self._watchers.values():
            for fut in futures:
                if not fut.done():
                    fut.set_result(None)

    # -- membership and leases -----------------------------------------------------------------
    def lease_check_wanted(self) -> None:
        self._lease_wake.set()
        self._claim_wake.set()

    def claim_wanted(self) -> None:
        self._claim_wake.set()

    async def _lease_loop(self) -> None:
        """Renew this node's lease every heartbeat, and nothing else: claiming and loading a
        takeover's instances can take longer than a lease on a busy store, and a renewal waiting
        for that would lose this node's lease, and everything it runs, to the takeover."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lease_wake.wait(), self.settings.heartbeat_seconds)
            self._lease_wake.clear()
            try:
                await self._keep_lease()
            except TetherError as exc:
                log.warning("renewing this node's lease failed: %s", exc)

    async def _claim_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_wake.wait(), self.settings.heartbeat_seconds)
            self._claim_wake.clear()
            if not self.nodes.valid():
                continue  # claims wait for the lease loop to renew or rejoin
            try:
                if await self.nodes.end_leases_of_gone_processes():
                    self._claim_wake.set()
                if await self._claim() >= self.settings.claim_batch:
                    self._claim_wake.set()  # more to take over: go on at once
            except TetherError as exc:
                log.warning("claiming work failed: %s", exc)

    async def _keep_lease(self) -> None:
        if self.nodes.valid():
            try:
                await self.nodes.renew()
                return
            except LeaseLost as exc:
                reason = str(exc)
        else:
            reason = "this node's lease ran out before it could be renewed"
        await self._rejoin(reason)

    async def _rejoin(self, reason: str) -> None:
        """Forget every instance and task and register anew under a new node id."""
        if not self._former_ids:
            log.warning("%s; dropping %d instance(s) and rejoining", reason, len(self.active))
        self._former_ids.append(self.node_id)
        for instance_id in list(self.active):
            self.retire(instance_id)
        self.dispatcher.drop_all()
        await self.nodes.register()  # raises while the store fails; the loop tries again
        log.info("rejoined as node %s", self.node_id)
        former, self._former_ids = self._former_ids, []
        for old in former:
            with contextlib.suppress(TetherError):
                await self.nodes.abandon(old)
        self.notify_all()
        self._claim_wake.set()  # what the former identities had is claimable now

    async def _claim(self) -> int:
        """Claim instances and tasks without a live owner; return how many instances."""
        node_id, app_id, batch = self.node_id, self.app_id, self.settings.claim_batch
        leases = await self.write(
            lambda tx: tx.claim_instances(node_id, app_id, batch), "claiming instances"
        )
        if leases:
            takeovers = sum(lease.taken_over for lease in leases)
            self.observer.instances_claimed(len(leases), takeovers)
            log.info(
                "taking over %d instance(s) of app %r (%d new here, %d left by a stopped node)",
                len(leases),
                app_id,
                len(leases) - takeovers,
                takeovers,
            )
        for lease in leases:
            await self.load(lease.instance_id)  # loads nothing once this node has rejoined
        tasks = await self.write(
            lambda tx: tx.claim_tasks(node_id, app_id, batch), "claiming activity tasks"
        )
        if self.node_id != node_id:
            return len(leases)  # rejoined meanwhile: the old identity's claims are claimable
        for task in tasks:
            self.dispatch_task(task_spec(task))
        return len(leases)

    # -- worker streams ------------------------------------------------------------------------
    def connect_worker(self, capabilities: list[int]) -> WorkerStream:
        self.require_running()
        return self.dispatcher.connect(capabilities)

    def disconnect_worker(self, stream: WorkerStream) -> None:
        for work in self.dispatcher.disconnect(stream):
            if work.kind == "turn":
                active = self.active.get(work.instance_id)
                if active is not None and active.turn is work and not active.committing:
                    active.end_turn()
                    self.schedule(active)
            else:
                self.dispatcher.send(work)

    def _on_worker_connect(self, stream: WorkerStream) -> None:
        # New code may have been deployed: give stalled instances another go.
        for active in self.active.values():
            if active.state.stall is not None:
                active.retry_stall = True
                self.schedule(active)
