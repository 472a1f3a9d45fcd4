"""Worker streams and the work sent on them.

Work is pushed the moment it exists: each connected ``GetWorkItems`` stream owns an asyncio
queue that its gRPC handler drains. A work item goes to the least-loaded stream (a turn prefers
the stream that holds the instance's history, so it can be sent as a delta). Items sent on a
stream that breaks are handed back to the engine to be sent again with a fresh token.
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
    def __init__(self) -> None:
        self.streams: dict[int, WorkerStream] = {}
        self.tokens: dict[str, Work] = {}
        self._waiting: deque[Work] = deque()
        self._ids = itertools.count(1)
        self.on_connect: Callable[[WorkerStream], None] | None = None

    @property
    def connected(self) -> bool:
        return bool(self.streams)

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
        work.token = f"{uuid.uuid4().hex}.{work.execution_id}"
        stream = self._pick(work)
        if stream is None:
            work.stream = None
            self._waiting.append(work)
            return
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
