"""The read model: every view of workflow state the front doors show, built once.

The gRPC servicer, the HTTP API and the CLI (and the dashboard) all read instances, listings,
histories and timers through :class:`Query`. It reads the store with :meth:`Store.read` and
returns typed, frozen dataclasses; turning them into JSON keys, table columns or protocol messages
is the business of each front door. Times are ns since the epoch; ``None`` where there is none yet.

The views live by subject: :mod:`.instances` (an instance row and the listing query),
:mod:`.history` (history events), :mod:`.details` (timers, inbox, pending activities, per-name
statistics, nodes); :mod:`.model` holds the queries themselves.
"""

from tether.engine.query.details import (
    MAX_CHILDREN,
    MAX_TREE_ANCESTORS,
    PERCENTILES,
    FailureCount,
    InboxView,
    InstanceDetail,
    NameStatsView,
    NodeView,
    TaskView,
    TimerView,
    inbox_view,
    name_matches,
    name_stats_view,
    task_view,
    timer_name,
    timer_view,
    timers_of,
)
from tether.engine.query.history import TYPE_NAMES, HistoryEventView, HistoryView, history_views
from tether.engine.query.instances import (
    PAYLOAD_FIELDS,
    SORT_KEYS,
    FailureView,
    InstancePage,
    InstanceView,
    ListQuery,
    StallView,
    failure_view,
    instance_view,
)
from tether.engine.query.model import Lookup, Query

__all__ = [
    "MAX_CHILDREN",
    "MAX_TREE_ANCESTORS",
    "PAYLOAD_FIELDS",
    "PERCENTILES",
    "SORT_KEYS",
    "TYPE_NAMES",
    "FailureCount",
    "FailureView",
    "HistoryEventView",
    "HistoryView",
    "InboxView",
    "InstanceDetail",
    "InstancePage",
    "InstanceView",
    "ListQuery",
    "Lookup",
    "NameStatsView",
    "NodeView",
    "Query",
    "StallView",
    "TaskView",
    "TimerView",
    "failure_view",
    "history_views",
    "inbox_view",
    "instance_view",
    "name_matches",
    "name_stats_view",
    "task_view",
    "timer_name",
    "timer_view",
    "timers_of",
]
