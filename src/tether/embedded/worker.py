"""An in-process worker: a dispatcher stream whose work items run on the SDK's own executors.

It connects to the engine like a gRPC ``GetWorkItems`` stream would (``Runtime.connect_worker``)
and answers through the same engine calls the servicer makes (``complete_turn``,
``complete_activity``), so everything past the protocol boundary is shared with the sidecar.
Work items stay the protobuf messages the engine built; nothing is serialised.

Turns run on the engine's event loop (workflow code is deterministic and must not block).
Sync activities run in a thread pool of ``maximum_thread_pool_workers`` threads and async ones
on the event loop, at most ``maximum_concurrent_activity_work_items`` at a time, as the SDK does.

Sticky execution: the stream advertises stateful history, so a turn carries only the events the
worker has not been sent. When the request extends exactly what the kept generator has seen
(same process, the previous turn's events committed as sent), only the delta is fed to it;
otherwise the turn is replayed from scratch. ``verify=True`` (or ``TETHER_STICKY_VERIFY=1``)
replays every sticky turn from scratch as well and compares the two responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tether import pb
from tether.embedded import _sdk
from tether.embedded.limits import receive_limit
from tether.engine.dispatch import WorkerStream
from tether.engine.engine import Engine

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Entry:
    live: _sdk.LiveOrchestration
    execution_id: str
    committed: int  # the history length the engine believed this worker held at the last turn
    # The previous turn's new events, serialised (to be found committed next time). Bytes, not
    # the messages: those would keep the whole work item they came in alive.
    last_new: list[bytes]
    used: float = 0.0


class InProcessWorker:
    def __init__(
        self, engine: Engine, options: _sdk.WorkerOptions, *, sticky: bool, verify: bool
    ) -> None:
        self.engine = engine
        self.options = options
        self.sticky = sticky and options.stateful
        self.verify = verify
        self.mismatches: list[str] = []
        self.sticky_turns = 0
        self.replayed_turns = 0
        self._activities = _sdk.Activities(options.registry, options.logger)
        self._pool = ThreadPoolExecutor(
            max_workers=options.thread_pool_workers, thread_name_prefix="tether-activity"
        )
        self._slots = asyncio.Semaphore(options.max_activities)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._stream: WorkerStream | None = None
        self._drain: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._activities_running = 0
        self._finished: list[Any] = []  # sync activities' responses not yet collected
        self._finished_lock = threading.Lock()
        self._wake_pending = False

    @property
    def busy(self) -> bool:
        """Work is running here: a turn's completion, or an activity."""
        return bool(self._running) or self._activities_running > 0

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        capabilities = [pb.CAPABILITY_STATEFUL_HISTORY] if self.options.stateful else []
        self._stream = self.engine.connect_worker(capabilities)
        self._drain = asyncio.create_task(self._run(self._stream), name="tether-embedded-worker")

    async def stop(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        if self._stream is not None:
            self.engine.disconnect_worker(self._stream)
            self._stream = None
        self._cache.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, stream: WorkerStream) -> None:
        queue = stream.queue
        while True:
            item = queue.get_nowait() if not queue.empty() else await queue.get()
            if item is None:
                return  # the engine is shutting down
            if item.HasField("workflowRequest"):
                request = item.workflowRequest
                try:
                    self._turn(request, item.completionToken)
                except Exception as ex:  # as the SDK worker does: the turn fails the workflow
                    self.options.logger.exception(
                        "executing workflow %r failed", request.instanceId
                    )
                    self._forget(request.instanceId)
                    self._finish(request, item.completionToken, _sdk.failed_turn(request, ex))
            elif item.HasField("activityRequest"):
                await self._activity(item.activityRequest, item.completionToken)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The engine resends what it did not get an answer for (or the instance is gone).
            log.warning("an embedded work item failed: %r", task.exception())

    # -- turns ---------------------------------------------------------------------------------
    def _turn(self, request: Any, token: str) -> None:
        # pastEvents follow the first ``count`` events of the history (a full send: count 0).
        delta = list(request.pastEvents)
        count = request.cachedHistory.eventCount if request.HasField("cachedHistory") else 0
        entry = self._cache.pop(request.instanceId, None)
        same = entry is not None and entry.execution_id == request.executionId.value
        if entry is not None and same and entry.committed == count:
            seen = len(entry.last_new)
            if _extends(delta, entry.last_new):
                self._finish(request, token, self._sticky_turn(entry, request, delta[seen:]))
                return
            if entry.live.events is None:  # the committed prefix is not kept: read it
                self._spawn(self._turn_from_store(request, token, delta, count))
                return
            past = entry.live.events[:count] + delta
        elif count:
            self._spawn(self._turn_from_store(request, token, delta, count))
            return
        else:
            past = delta
        self._finish(request, token, self._fresh_turn(request, past))

    async def _turn_from_store(
        self, request: Any, token: str, delta: list[Any], count: int
    ) -> None:
        """The engine sent a delta for history this worker no longer holds (evicted)."""
        stored = await self.engine.history(request.instanceId)
        past = [pb.HistoryEvent.FromString(b) for b in stored[:count]] + delta
        self._finish(request, token, self._fresh_turn(request, past))

    def _fresh_turn(self, request: Any, past: list[Any]) -> Any:
        self.replayed_turns += 1
        live = _sdk.new_orchestration(
            self.options.registry, self.options.logger, request.instanceId, record=self.verify
        )
        response = self._guarded(live, past, request)
        self._keep(live, request, len(past), response)
        return response

    def _sticky_turn(self, entry: _Entry, request: Any, unseen: list[Any]) -> Any:
        self.sticky_turns += 1
        past_len = entry.live.seen + len(unseen)
        response = self._guarded(entry.live, unseen, request)
        if self.verify and entry.live.events is not None:
            full = entry.live.events[:past_len]
            expected = _sdk.replay(self.options.registry, self.options.logger, request, full)
            if _without_stack_traces(expected) != _without_stack_traces(response):
                message = (
                    f"sticky turn of {request.instanceId!r} differs from a replay:\n"
                    f"sticky: {response}\nreplay: {expected}"
                )
                log.error(message)
                self.mismatches.append(message)
                response = expected
        self._keep(entry.live, request, past_len, response)
        return response

    def _guarded(self, live: _sdk.LiveOrchestration, old: list[Any], request: Any) -> Any:
        try:
            return _sdk.advance(live, old, list(request.newEvents), request)
        except Exception as ex:  # outside the executor: the SDK worker fails the workflow
            self.options.logger.exception("executing workflow %r failed", request.instanceId)
            live.ctx._is_complete = True
            return _sdk.failed_turn(request, ex)

    def _keep(
        self, live: _sdk.LiveOrchestration, request: Any, past_len: int, response: Any
    ) -> None:
        instance_id = request.instanceId
        if not self.sticky or live.complete or _sdk.ends_execution(response):
            self._forget(instance_id)
            return
        self._cache[instance_id] = _Entry(
            live=live,
            execution_id=request.executionId.value,
            committed=past_len,
            last_new=[e.SerializeToString() for e in request.newEvents],
            used=time.monotonic(),
        )
        self._evict()

    def _evict(self) -> None:
        limit = self.options.cache_max_instances
        expired = time.monotonic() - self.options.cache_ttl
        while self._cache:
            instance_id, oldest = next(iter(self._cache.items()))
            if len(self._cache) <= limit and oldest.used >= expired:
                return
            self._forget(instance_id)

    def _forget(self, instance_id: str) -> None:
        """Drop the kept generator; the engine then sends the whole history next time."""
        self._cache.pop(instance_id, None)
        if self._stream is not None:
            self._stream.warm.pop(instance_id, None)

    def _finish(self, request: Any, token: str, response: Any) -> None:
        response.completionToken = token
        self._spawn(self.engine.complete_turn(response))

    # -- activities ----------------------------------------------------------------------------
    async def _activity(self, request: Any, token: str) -> None:
        await self._slots.acquire()
        self._activities_running += 1
        fn, is_async = self._activities.lookup(request.name)
        if is_async:
            self._spawn(self._async_activity(fn, request, token))
            return
        try:
            self._pool.submit(self._run_sync, asyncio.get_running_loop(), fn, request, token)
        except RuntimeError:  # the pool is shut down: the engine resends the task elsewhere
            self._activity_done()

    def _run_sync(self, loop: asyncio.AbstractEventLoop, fn: Any, request: Any, token: str) -> None:
        """In a pool thread: run the activity, hand its response to the loop. Responses that
        finish together share one wake-up of the loop."""
        response = self._activities.run(fn, request, token)
        with self._finished_lock:
            self._finished.append(response)
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the engine resends
            loop.call_soon_threadsafe(self._collect)

    def _collect(self) -> None:
        with self._finished_lock:
            finished, self._finished = self._finished, []
            self._wake_pending = False
        for response in finished:
            self._activity_done()
            self._spawn(self.engine.complete_activity(self._deliverable(response)))

    def _activity_done(self) -> None:
        self._activities_running -= 1
        self._slots.release()

    def _deliverable(self, response: Any) -> Any:
        """As the SDK worker does when gRPC refuses a result as too large: fail the task."""
        limit = receive_limit(self.engine.settings.max_payload_bytes)
        if response.ByteSize() <= limit:
            return response
        error = RuntimeError(
            "Activity result exceeds gRPC max message size: Received message larger than max "
            f"({response.ByteSize()} vs. {limit})"
        )
        return _sdk.Activities.failure(response, error)

    async def _async_activity(self, fn: Any, request: Any, token: str) -> None:
        try:
            response = await self._activities.run_async(fn, request, token)
        finally:
            self._activity_done()
        await self.engine.complete_activity(self._deliverable(response))


def _without_stack_traces(response: Any) -> Any:
    """A response to compare: a failure's stack trace shows the caller, sticky or replay."""
    copy = pb.WorkflowResponse()
    copy.CopyFrom(response)
    for action in copy.actions:
        if action.HasField("completeWorkflow"):
            details = action.completeWorkflow.failureDetails
            while details is not None and details.ByteSize():
                details.ClearField("stackTrace")
                details = details.innerFailure if details.HasField("innerFailure") else None
    return copy


def _extends(delta: list[Any], seen: list[bytes]) -> bool:
    """Whether the committed delta starts with exactly the events the generator saw last."""
    if len(delta) < len(seen):
        return False
    return all(a.SerializeToString() == b for a, b in zip(delta, seen, strict=False))
