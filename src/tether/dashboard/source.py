"""What the dashboard shows and acts on: a running engine, or a store with no tether running.

Reads go through :class:`tether.engine.query.Query` either way; actions exist only with an
engine, and go through the same :class:`Engine` operations as the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether import pb
from tether.engine.engine import Engine
from tether.engine.query import Query

NO_ENGINE = (
    "Read-only: this dashboard reads the store directly. Actions need a running tether "
    "(open /dashboard/ on its HTTP port)."
)


@dataclass(frozen=True, slots=True)
class WorkItemView:
    kind: str  # "turn" or "activity"
    instance_id: str
    task_id: int


@dataclass(frozen=True, slots=True)
class WorkerView:
    stream_id: int
    capabilities: tuple[str, ...]
    in_flight: tuple[WorkItemView, ...]


_CAPABILITIES = {
    pb.CAPABILITY_STATEFUL_HISTORY: "stateful history",
    pb.CAPABILITY_HEALTH_PING: "health ping",
}


class Source:
    def __init__(
        self, query: Query, *, engine: Engine | None = None, api_token: str | None = None
    ) -> None:
        self.query = query
        self.engine = engine
        self.api_token = api_token

    @classmethod
    def of_engine(cls, engine: Engine) -> Source:
        return cls(engine.query, engine=engine, api_token=engine.settings.api_token)

    @property
    def store_url(self) -> str:
        return self.query.store.url

    @property
    def note(self) -> str:
        if self.engine is None:
            return f"store {self.store_url} · read-only"
        return f"app {self.engine.app_id} · node {self.engine.node_id}"

    def workers(self) -> list[WorkerView] | None:
        """This node's connected worker streams (None without an engine: only a running tether
        knows its streams)."""
        if self.engine is None:
            return None
        views = []
        for stream in self.engine.dispatcher.streams.values():
            items = tuple(
                WorkItemView(w.kind, w.instance_id, w.task_id)
                for w in stream.outstanding.values()
                if not w.done
            )
            caps = tuple(
                _CAPABILITIES.get(c, f"capability {c}") for c in sorted(stream.capabilities)
            )
            views.append(WorkerView(stream.stream_id, caps, items))
        return views

    def activity_holders(self, instance_id: str) -> dict[int, int]:
        """task id -> the worker stream of this node that holds the activity now."""
        if self.engine is None:
            return {}
        return {
            w.task_id: w.stream.stream_id
            for w in self.engine.dispatcher.tokens.values()
            if w.kind == "activity" and w.instance_id == instance_id and w.stream is not None
        }
