"""Time-skipping workflow tests: an embedded engine on a temporary store with a virtual clock.

While a test waits on a workflow (``wait_for_workflow_completion``/``_start``) and nothing else
can run (no turn, activity or commit in flight), the clock jumps to the next due timer, so a
workflow that sleeps for 30 days finishes in milliseconds and ``ctx.current_utc_datetime``
shows the virtual time. :meth:`TimeSkipping.sleep` moves the clock forward explicitly.
Time does not jump while the test itself is running code, so it can raise events, suspend or
query a workflow before its timers fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from tether import clock, pb
from tether.embedded.client import DaprWorkflowClient
from tether.embedded.node import EmbeddedNode
from tether.embedded.runtime import WorkflowRuntime, sticky_mismatches

_IDLE_CHECK_SECONDS = 0.002


class VirtualClock(clock.Clock):
    """Wall time plus an offset that grows whenever the engine is idle with a waiting client."""

    def __init__(self) -> None:
        self.offset_ns = 0
        self._sleepers: dict[asyncio.Event, int] = {}

    def now_ns(self) -> int:
        return time.time_ns() + self.offset_ns

    async def wait(self, wake: asyncio.Event, until_ns: int | None) -> None:
        if until_ns is not None:
            self._sleepers[wake] = until_ns
        try:
            await super().wait(wake, until_ns)
        finally:
            self._sleepers.pop(wake, None)

    def next_due(self) -> int | None:
        return min(self._sleepers.values(), default=None)

    def advance_to(self, when_ns: int) -> None:
        """Move the clock to ``when_ns`` (never back) and wake every sleeper now due. Call on
        the sleepers' loop."""
        self.offset_ns += max(0, when_ns - self.now_ns())
        now = self.now_ns()
        for wake, until in list(self._sleepers.items()):
            if until <= now:
                wake.set()


class TimeSkipping:
    """An embedded tether node with a virtual clock, on a temporary (or given) SQLite store.

    ``runtime()`` makes a :class:`tether.embedded.WorkflowRuntime` on it (register, then
    ``start()``), ``client`` is a :class:`tether.embedded.DaprWorkflowClient`; helpers raise
    events, read and assert on history.
    """

    def __init__(self, store_path: Path | str | None = None, *, app_id: str = "test") -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tether-test-")
            store_path = Path(self._tmp.name) / "workflows.db"
        self.store_url = f"sqlite:///{Path(store_path).resolve()}"
        self.app_id = app_id
        self.clock = VirtualClock()
        self._previous: clock.Clock | None = None
        self._runtimes: list[WorkflowRuntime] = []
        self._client: DaprWorkflowClient | None = None
        self._skipper: asyncio.Task[None] | None = None

    # -- set-up --------------------------------------------------------------------------------
    def __enter__(self) -> TimeSkipping:
        self._previous = clock.use(self.clock)
        self._client = DaprWorkflowClient(app_id=self.app_id, store=self.store_url)
        node = self.node
        self._skipper = asyncio.run_coroutine_threadsafe(_start_skipper(self), node.loop).result()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mismatches = [m for r in self._runtimes for m in sticky_mismatches(r)]
        for runtime in self._runtimes:
            with contextlib.suppress(Exception):
                runtime.shutdown()
        if self._skipper is not None:
            self.node.loop.call_soon_threadsafe(self._skipper.cancel)
        if self._client is not None:
            self._client.close()
        if self._previous is not None:
            clock.use(self._previous)
        if self._tmp is not None:
            self._tmp.cleanup()
        if mismatches and exc_type is None:
            raise AssertionError("sticky execution differed from replay:\n" + mismatches[0])

    @property
    def client(self) -> DaprWorkflowClient:
        assert self._client is not None, "use TimeSkipping as a context manager"
        return self._client

    @property
    def node(self) -> EmbeddedNode:
        node = self.client._tether_node
        assert node is not None
        return node

    def runtime(self, **options: Any) -> WorkflowRuntime:
        """A workflow runtime on this engine (options as for
        :class:`tether.embedded.WorkflowRuntime`), shut down when the context ends. With
        ``verify_sticky=True`` every sticky turn is replayed too and a difference fails the test
        (workflow code then runs twice per turn, side effects guarded by ``is_replaying`` too)."""
        runtime = WorkflowRuntime(app_id=self.app_id, store=self.store_url, **options)
        self._runtimes.append(runtime)
        return runtime

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The virtual time (what ``ctx.current_utc_datetime`` shows in a new turn)."""
        return datetime.fromtimestamp(self.clock.now_ns() / 1e9, UTC)

    def sleep(self, duration: timedelta | float) -> None:
        """Move the virtual clock forward by ``duration`` (seconds or a timedelta), firing every
        timer that falls due on the way."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        target = self.clock.now_ns() + int(seconds * 1e9)

        async def advance() -> None:
            self.clock.advance_to(target)

        asyncio.run_coroutine_threadsafe(advance(), self.node.loop).result()

    # -- helpers -------------------------------------------------------------------------------
    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        self.client.raise_workflow_event(instance_id, name, data=data)

    def history(self, instance_id: str) -> list[Any]:
        """The instance's history as protobuf ``HistoryEvent`` messages."""
        stored = self.node.call(self.node.engine.history(instance_id))
        return [pb.HistoryEvent.FromString(b) for b in stored]

    def event_kinds(self, instance_id: str) -> list[str]:
        """The history's event types, e.g. ``["workflowStarted", "executionStarted", ...]``."""
        return [e.WhichOneof("eventType") for e in self.history(instance_id)]

    def assert_history(self, instance_id: str, *kinds: str) -> None:
        """Assert that the history contains these event types in this order (others may come
        in between)."""
        actual = self.event_kinds(instance_id)
        position = 0
        for kind in kinds:
            try:
                position = actual.index(kind, position) + 1
            except ValueError:
                raise AssertionError(
                    f"history of {instance_id!r} lacks {kind!r} in order {list(kinds)}: {actual}"
                ) from None


async def _start_skipper(env: TimeSkipping) -> asyncio.Task[None]:
    return asyncio.create_task(_skip_while_idle(env), name="tether-time-skipping")


async def _skip_while_idle(env: TimeSkipping) -> None:
    """Jump to the next due timer while a client waits and nothing else can run. Idleness must
    hold on two checks in a row, so work that is handed over between tasks is not missed."""
    node, virtual = env.node, env.clock
    quiet = 0
    while True:
        await asyncio.sleep(_IDLE_CHECK_SECONDS)
        due = virtual.next_due()
        if node.waiting and due is not None and node.idle():
            quiet += 1
            if quiet >= 2:
                virtual.advance_to(due)
                quiet = 0
        else:
            quiet = 0


@contextlib.contextmanager
def time_skipping(store_path: Path | str | None = None, app_id: str = "test") -> Iterator[Any]:
    with TimeSkipping(store_path, app_id=app_id) as env:
        yield env
