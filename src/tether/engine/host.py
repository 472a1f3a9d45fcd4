"""What every part of the runtime shares: the owned instances, the store, and the write path.

The runtime is assembled from one mixin per concern (turns, activities, timers, change feed,
waiters, membership in :mod:`tether.engine.runtime`); each sees the others through the abstract
methods declared here.

The write path. Every commit goes through :meth:`Host.write`: a write that fails because the
store is busy or full is retried with back-off a bounded number of times
(``Settings.write_attempts``), then raised; one that found the store unreachable
(``StoreUnreachable``: no connection within the store's own wait) is raised at once, so calls
fail fast during an outage. A caller whose commit failed for good marks the
instance for recovery (:meth:`Host.recover`): its memory is dropped and it is reloaded from the
store, with its own activity tasks sent again, once the store answers. ``LeaseLost`` is never
retried: the node forgets that instance (:meth:`Host.lease_lost`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tether.core.state import TaskSpec
from tether.engine.dispatch import Dispatcher
from tether.engine.instances import Active
from tether.engine.nodes import NodeRegistry
from tether.errors import StoreFull, StoreUnavailable, StoreUnreachable, Unavailable
from tether.settings import Settings
from tether.store.base import InstanceRow, MessageRow, Store, Tx
from tether.telemetry import build_observer

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = (StoreUnavailable, StoreFull)
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 2.0
_RECOVERY_BACKOFF_MAX = 10.0


class Host(abc.ABC):
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.app_id = settings.app_id
        self.store = store
        self.dispatcher = Dispatcher(
            {
                "turn": settings.max_concurrent_workflows,
                "activity": settings.max_concurrent_activities,
            }
        )
        self.nodes = NodeRegistry(settings, store)
        self.observer = build_observer(settings, store)
        self.active: dict[str, Active] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recovering: set[str] = set()
        self.running = False

    @property
    def node_id(self) -> str:
        return self.nodes.node_id

    # -- the write path --------------------------------------------------------------------------
    async def write(self, fn: Callable[[Tx], T], what: str) -> T:
        """Commit ``fn``, retrying a busy or full store with back-off; raise the last error."""
        delay = _FIRST_BACKOFF
        for attempt in range(1, self.settings.write_attempts + 1):
            try:
                return await self.store.write(fn)
            except StoreUnreachable:
                raise  # the store already waited for a connection: the caller hears it now
            except _RETRYABLE as exc:
                if attempt == self.settings.write_attempts:
                    raise
                log.warning("%s failed (attempt %d, retrying): %s", what, attempt, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)
        raise AssertionError("unreachable")  # pragma: no cover

    def recover(self, instance_id: str, reason: BaseException) -> None:
        """A commit of the instance failed for good: drop its memory and reload it (and resend
        its activities) from the store, retrying until the store answers."""
        log.error("instance %r marked for recovery after a failed write: %s", instance_id, reason)
        old = self.active.get(instance_id)
        in_flight = list(old.unsaved.values()) if old is not None else []
        self.retire(instance_id)
        if instance_id not in self._recovering:
            self._recovering.add(instance_id)
            self.spawn(self._recover(instance_id, in_flight))

    async def _recover(self, instance_id: str, in_flight: list[asyncio.Future[bool]]) -> None:
        delay = _FIRST_BACKOFF
        try:
            # Writes still on the way for the forgotten memory (other activities' results) must
            # land before the store is read, or the reload would miss them.
            await asyncio.gather(*(asyncio.shield(f) for f in in_flight))
            while self.running:
                try:
                    await self.load(instance_id, reload=True)
                    return
                except Exception as exc:  # the store still fails: try again later
                    log.warning("reloading %r failed, retrying: %s", instance_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECOVERY_BACKOFF_MAX)
        finally:
            self._recovering.discard(instance_id)

    def lease_lost(self, instance_id: str, reason: BaseException) -> None:
        """A fenced write found the lease gone: forget the instance; never write it again
        unless it is claimed anew."""
        log.warning("lost the lease on %r; forgetting it here: %s", instance_id, reason)
        self.retire(instance_id)
        self.notify(instance_id)
        self.lease_check_wanted()

    # -- background work -------------------------------------------------------------------------
    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def detached(self, coro: Awaitable[T]) -> Awaitable[T]:
        """Run ``coro`` to its end even if whoever awaits it is cancelled (a client hanging up).

        Engine operations commit and then apply the commit to memory; cancelled in between,
        memory would stay behind the store. The caller still gets the result or the error.
        """
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(_detached_done)
        task.add_done_callback(self._background.discard)
        return asyncio.shield(task)

    def idle(self) -> bool:
        """No commit or other engine task is in flight and no work item is with a worker."""
        return not any(not t.done() for t in self._background) and self.dispatcher.idle

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def require_running(self) -> None:
        if not self.running:
            raise Unavailable("tether is shutting down; retry against a running sidecar")

    # -- provided by the other parts ---------------------------------------------------------------
    @abc.abstractmethod
    def schedule(self, active: Active) -> None:
        """Start the instance's next turn if it can have one (turns)."""

    @abc.abstractmethod
    def retire(self, instance_id: str) -> None:
        """Forget an instance's memory and its work in flight (turns)."""

    @abc.abstractmethod
    async def load(self, instance_id: str, *, reload: bool = False) -> Active | None:
        """Load an owned instance from the store (turns)."""

    @abc.abstractmethod
    def route(self, messages: list[MessageRow]) -> None:
        """Hand committed inbox messages to the instances they belong to (turns)."""

    @abc.abstractmethod
    def dispatch_task(self, task: TaskSpec) -> None:
        """Send an activity task to a worker (activities)."""

    @abc.abstractmethod
    def notify(self, instance_id: str, row: InstanceRow | None = None) -> None:
        """Wake the instance's waiters (waiters)."""

    @abc.abstractmethod
    def notify_all(self) -> None:
        """Wake every waiter to read afresh (waiters)."""

    @abc.abstractmethod
    def arm(self, when: int, instance_id: str) -> None:
        """Look at the instance again at ``when`` ns (timers)."""

    @abc.abstractmethod
    def lease_check_wanted(self) -> None:
        """Ask membership to renew and claim soon (runtime)."""

    @abc.abstractmethod
    def claim_wanted(self) -> None:
        """Ask membership to claim soon, without renewing first (runtime)."""


def _detached_done(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("a detached operation failed after its caller left: %s", task.exception())
