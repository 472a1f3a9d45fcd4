"""Worker streams and the work sent on them.

Work is pushed the moment it exists: each connected ``GetWorkItems`` stream owns an asyncio
queue that its gRPC handler drains. A work item goes to the least-loaded stream (a turn prefers
the stream that holds the instance's history, so it can be sent as a delta). Items sent on a
stream that breaks are handed back to the engine to be sent again with a fresh token.

Limits per kind (a Dapr Configuration's ``maxConcurrentWorkflowInvocations`` and
``maxConcurrentActivityInvocations``) cap how many items of that kind are on streams at once on
this node; the rest are held, in order, until one finishes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether import pb

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Work:
    """One unit sent to a worker: an orchestration turn or an activity."""

    kind: str  # "turn" | "activity"
    instance_id: str
    execution_id: str
    build: Callable[[WorkerStream], Any]  # returns the WorkItem for a stream
    task_id: int = 0
    token: str = ""
    stream: WorkerStream | None = None
    done: bool = False


@dataclass(eq=False)
class WorkerStream:
    stream_id: int
    capabilities: frozenset[int]
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    outstanding: dict[str, Work] = field(default_factory=dict)
    warm: dict[str, int] = field(default_factory=dict)  # instance -> cached history length
    closed: bool = False

    @property
    def stateful(self) -> bool:
        return pb.CAPABILITY_STATEFUL_HISTORY in self.capabilities

    @property
    def wants_health_ping(self) -> bool:
        return pb.CAPABILITY_HEALTH_PING in self.capabilities


def token_execution(token: str) -> str | None:
    """The execution a completion token was issued for (tokens outlive their bookkeeping: a late
    result may arrive after its stream died or tether restarted)."""
    _, dot, execution_id = token.partition(".")
    return execution_id if dot and execution_id else None


class Dispatcher:
    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.streams: dict[int, WorkerStream] = {}
        self.tokens: dict[str, Work] = {}
        self._waiting: deque[Work] = deque()
        # kind -> most items of that kind on streams at once (absent or 0: no limit)
        self.limits = {kind: n for kind, n in (limits or {}).items() if n > 0}
        self._in_flight: dict[str, set[Work]] = {kind: set() for kind in self.limits}
        self._held: dict[str, deque[Work]] = {kind: deque() for kind in self.limits}
        self._ids = itertools.count(1)
        # Tokens: unique per dispatcher (a random prefix) and cheap (no entropy read per item).
        self._token_prefix = uuid.uuid4().hex[:16]
        self._token_seq = itertools.count(1)
        self.on_connect: Callable[[WorkerStream], None] | None = None

    @property
    def connected(self) -> bool:
        return bool(self.streams)

    @property
    def idle(self) -> bool:
        """No work item is out with a worker or waiting for one."""
        return not self._waiting and not any(s.outstanding for s in self.streams.values())

    def connect(self, capabilities: list[int]) -> WorkerStream:
        stream = WorkerStream(stream_id=next(self._ids), capabilities=frozenset(capabilities))
        self.streams[stream.stream_id] = stream
        log.info(
            "worker stream %d connected (capabilities %s)", stream.stream_id, sorted(capabilities)
        )
        waiting, self._waiting = self._waiting, deque()
        for work in waiting:
            if not work.done:
                self.send(work)
        for kind in self._held:
            self._pump(kind)
        if self.on_connect is not None:
            self.on_connect(stream)
        return stream

    def disconnect(self, stream: WorkerStream) -> list[Work]:
        """Forget a stream; return the work it had not finished, to be sent again."""
        if stream.closed:
            return []
        stream.closed = True
        self.streams.pop(stream.stream_id, None)
        orphans = [w for w in stream.outstanding.values() if not w.done]
        stream.outstanding.clear()
        stream.warm.clear()
        for work in orphans:
            self.tokens.pop(work.token, None)
            work.stream = None
            self._release(work)
        log.info(
            "worker stream %d disconnected, %d item(s) to redispatch",
            stream.stream_id,
            len(orphans),
        )
        return orphans

    def send(self, work: Work) -> None:
        """Give ``work`` a fresh token and push it to a stream (or hold it until one connects)."""
        if work.done:
            return
        if work.token:
            self.tokens.pop(work.token, None)
        work.token = f"{self._token_prefix}{next(self._token_seq):x}.{work.execution_id}"
        stream = self._pick(work)
        if stream is None:
            work.stream = None
            self._waiting.append(work)
            return
        flying = self._in_flight.get(work.kind)
        if flying is not None and work not in flying:
            if len(flying) >= self.limits[work.kind]:
                self.tokens.pop(work.token, None)
                work.stream = None
                self._held[work.kind].append(work)
                return
            flying.add(work)
        self.tokens[work.token] = work
        work.stream = stream
        stream.outstanding[work.token] = work
        stream.queue.put_nowait(work.build(stream))

    def resend(self, work: Work) -> None:
        """Send ``work`` again (e.g. after its stream died), invalidating the old token."""
        if work.stream is not None:
            work.stream.outstanding.pop(work.token, None)
        self.send(work)

    def finish(self, work: Work) -> None:
        work.done = True
        self.tokens.pop(work.token, None)
        if work.stream is not None:
            work.stream.outstanding.pop(work.token, None)
        elif work in self._waiting:
            self._waiting.remove(work)
        held = self._held.get(work.kind)
        if held is not None and work in held:
            held.remove(work)
        self._release(work)

    def _release(self, work: Work) -> None:
        """``work`` is off the streams: send held items of its kind while there is room."""
        flying = self._in_flight.get(work.kind)
        if flying is not None:
            flying.discard(work)
            self._pump(work.kind)

    def _pump(self, kind: str) -> None:
        held, flying = self._held[kind], self._in_flight[kind]
        while held and len(flying) < self.limits[kind] and self.streams:
            self.send(held.popleft())

    def in_flight(self, kind: str) -> int:
        """Items of ``kind`` on streams now (only counted for limited kinds)."""
        return len(self._in_flight.get(kind, ()))

    def drop_all(self) -> None:
        """Finish every item in flight or waiting (this node lost its leases)."""
        for work in [*self.tokens.values(), *self._waiting]:
            self.finish(work)

    def forget_instance(self, instance_id: str) -> None:
        """Drop every stream's cached-history entry for an instance (its history was reset)."""
        for stream in self.streams.values():
            stream.warm.pop(instance_id, None)

    def _pick(self, work: Work) -> WorkerStream | None:
        if not self.streams:
            return None
        if work.kind == "turn":
            for stream in self.streams.values():
                if work.instance_id in stream.warm:
                    return stream
        return min(self.streams.values(), key=lambda s: len(s.outstanding))

    def close_all(self) -> None:
        for stream in list(self.streams.values()):
            stream.queue.put_nowait(None)
