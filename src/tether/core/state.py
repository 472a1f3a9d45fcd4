"""An instance's durable state and what can be derived from its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether import pb
from tether.core.events import from_timestamp, opt_str


@dataclass(slots=True)
class Message:
    """One inbox entry: an event waiting to be delivered to the instance in a turn.

    ``visible_at`` delays delivery (durable timers, scheduled starts). ``execution_id``, when set,
    binds the message to one execution: it is dropped if the instance has moved on (continue-as-new,
    recreation), so a late timer or result can never reach the wrong execution.
    """

    msg_id: int
    event: Any
    visible_at: int
    execution_id: str | None
    order: int


@dataclass(slots=True)
class ParentRef:
    instance_id: str
    app_id: str
    execution_id: str
    task_scheduled_id: int
    name: str


@dataclass(slots=True)
class TaskSpec:
    """An activity dispatch: lives in the store until its result is recorded."""

    instance_id: str
    execution_id: str
    task_id: int
    app_id: str
    request: Any  # pb.ActivityRequest


@dataclass(slots=True)
class InstanceState:
    instance_id: str
    app_id: str
    name: str
    execution_id: str
    history: list[Any] = field(default_factory=list)
    inbox: list[Message] = field(default_factory=list)
    status: int = pb.PENDING
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: Any | None = None  # pb.TaskFailureDetails
    created_at: int = 0
    updated_at: int = 0
    started_at: int | None = None
    completed_at: int | None = None
    scheduled_start: int | None = None
    parent: ParentRef | None = None
    stall: Any | None = None  # pb.ExecutionStalledEvent while STALLED
    version_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Indexes over history, kept in step with it.
    scheduled_tasks: set[int] = field(default_factory=set)
    resolved_tasks: set[int] = field(default_factory=set)
    created_timers: set[int] = field(default_factory=set)
    fired_timers: set[int] = field(default_factory=set)
    created_children: dict[int, str] = field(default_factory=dict)
    resolved_children: set[int] = field(default_factory=set)
    last_turn_at: int = 0
    suspended: bool = False
    patches: list[str] = field(default_factory=list)  # recorded on workflowStarted events
    history_size: int = 0  # serialized bytes, to keep work items under the size limit

    @property
    def terminal(self) -> bool:
        return self.status in pb.TERMINAL_STATUSES

    @property
    def started(self) -> bool:
        return bool(self.history)

    def index_event(self, event: Any) -> None:
        kind = event.WhichOneof("eventType")
        self.history_size += event.ByteSize() + 4
        if kind == "taskScheduled":
            self.scheduled_tasks.add(event.eventId)
        elif kind == "taskCompleted":
            self.resolved_tasks.add(event.taskCompleted.taskScheduledId)
        elif kind == "taskFailed":
            self.resolved_tasks.add(event.taskFailed.taskScheduledId)
        elif kind == "timerCreated":
            self.created_timers.add(event.eventId)
        elif kind == "timerFired":
            self.fired_timers.add(event.timerFired.timerId)
        elif kind == "childWorkflowInstanceCreated":
            self.created_children[event.eventId] = event.childWorkflowInstanceCreated.instanceId
        elif kind == "childWorkflowInstanceCompleted":
            self.resolved_children.add(event.childWorkflowInstanceCompleted.taskScheduledId)
        elif kind == "childWorkflowInstanceFailed":
            self.resolved_children.add(event.childWorkflowInstanceFailed.taskScheduledId)
        elif kind == "workflowStarted":
            self.last_turn_at = max(self.last_turn_at, from_timestamp(event.timestamp))
            if event.workflowStarted.HasField("version"):
                version = event.workflowStarted.version
                self.patches.extend(version.patches)
                if self.version_name is None and version.HasField("name"):
                    self.version_name = version.name
        elif kind == "executionSuspended":
            self.suspended = True
        elif kind == "executionResumed":
            self.suspended = False
        elif kind == "executionStarted":
            started = event.executionStarted
            self.input = opt_str(started, "input")
            self.created_at = from_timestamp(event.timestamp)
            if self.started_at is None:
                self.started_at = self.created_at

    def reset_history(self) -> None:
        self.history = []
        self.scheduled_tasks = set()
        self.resolved_tasks = set()
        self.created_timers = set()
        self.fired_timers = set()
        self.created_children = {}
        self.resolved_children = set()
        self.version_name = None
        self.stall = None
        self.suspended = False
        self.patches = []
        self.history_size = 0

    def append_history(self, events: list[Any]) -> None:
        for event in events:
            self.history.append(event)
            self.index_event(event)

    def derive_status(self) -> int:
        """Status from history, as durabletask's runtime state derives it."""
        status = pb.PENDING
        suspended = False
        for event in self.history:
            kind = event.WhichOneof("eventType")
            if kind == "executionStarted":
                status = pb.RUNNING
            elif kind == "executionCompleted":
                return int(event.executionCompleted.workflowStatus)
            elif kind == "executionSuspended":
                suspended = True
            elif kind == "executionResumed":
                suspended = False
        if self.stall is not None:
            return pb.STALLED
        if status == pb.RUNNING and suspended:
            return pb.SUSPENDED
        return status

    def child_ids(self) -> list[str]:
        """Every child instance created by this execution, de-duplicated, in creation order."""
        return list(dict.fromkeys(self.created_children.values()))

    def suspended_after_inbox(self) -> bool:
        """Whether the instance will be suspended once the queued suspend/resume events apply."""
        suspended = self.status == pb.SUSPENDED
        for message in self.inbox:
            kind = message.event.WhichOneof("eventType")
            if kind == "executionSuspended":
                suspended = True
            elif kind == "executionResumed":
                suspended = False
        return suspended


def status_name(status: int) -> str:
    return pb.STATUS_NAMES.get(status, "UNKNOWN")
