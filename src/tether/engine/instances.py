"""An owned instance in memory (:class:`Active`), its phases, and a start not yet stored.

Phases of an owned instance (``Active.phase``):

- ``creating``: its creation is not stored yet; it commits with the first turn (:class:`Creation`).
- ``idle``: nothing in flight; the next deliverable message starts a turn.
- ``turn``: a work item is out with a worker (or waiting for one).
- ``committing``: a turn's (or dropped messages') commit is on its way; nothing else starts.

Phases change only through the transition methods below (called by the turn machinery), and
every commit leaves ``committing`` in a ``finally`` (:meth:`Active.commit_phase`), so no failure
can leave an instance stuck in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tether.core.state import InstanceState, Message
from tether.core.turns import TurnPlan
from tether.engine.dispatch import Work
from tether.errors import TetherError
from tether.store.base import InstanceRow, Tx

_GONE_LIMIT = 4096


class AlreadyActive(TetherError):
    """A creation found an active instance with its ID: the start is an idempotent no-op."""


@dataclass(eq=False)
class Creation:
    """A new instance not yet in the store: its creation commits with its first turn.

    Its first turn runs on a worker while nothing is stored, which is safe because a turn has no
    effect until its commit, and that commit writes the creation too (or fails with it).
    """

    write: Callable[[Tx], bool]  # the creation's writes; False: an active instance has the ID
    saved: asyncio.Future[bool]  # resolved when the creation is durable (or refused)
    row: InstanceRow  # the row ``write`` stores; its epoch is decided by that write
    taken: bool = False  # a commit carrying the creation is on its way


class TaskTaken(TetherError):
    """A turn carrying an activity result found that result's task row already gone."""


@dataclass(eq=False, slots=True)
class Rider:
    """An activity result in the inbox whose write rides on the commit of the turn it started:
    that commit deletes the task row, and the result never needs an inbox row of its own."""

    msg_id: int
    instance_id: str
    execution_id: str
    task_id: int
    # True: committed with a turn; None: not carried (the turn came late, failed or was
    # withdrawn): the result is to be written on its own.
    outcome: asyncio.Future[bool | None]
    timer: asyncio.TimerHandle | None = None

    def take(self, tx: Tx) -> None:
        """In the carrying commit: accept the result by deleting its task row."""
        if not tx.take_task(self.instance_id, self.execution_id, self.task_id):
            raise TaskTaken(f"the result of task {self.task_id} was already accepted")

    def settle(self, carried: bool | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.outcome.done():
            self.outcome.set_result(carried)


@dataclass(eq=False, slots=True)
class Active:
    state: InstanceState
    epoch: int  # the lease epoch this node holds the instance at; every commit is fenced on it
    creation: Creation | None = None
    turn: Work | None = None
    plan: TurnPlan | None = None  # what ``turn`` delivers
    committing: bool = False
    retry_stall: bool = False
    gone: set[int] = field(default_factory=set)  # msg ids consumed here; never re-added
    tasks: dict[int, Work] = field(default_factory=dict)
    # Inbox messages in memory whose commit is on the way: msg id -> True once stored.
    unsaved: dict[int, asyncio.Future[bool]] = field(default_factory=dict)
    # Unsaved messages waiting to be committed with a turn (msg id -> rider), not on their own.
    riders: dict[int, Rider] = field(default_factory=dict)

    @property
    def phase(self) -> str:
        if self.creation is not None:
            return "creating"
        if self.committing:
            return "committing"
        return "turn" if self.turn is not None else "idle"

    # -- transitions (the only places the phase changes) -------------------------------------
    def start_turn(self, plan: TurnPlan, work: Work) -> None:
        self.plan = plan
        self.turn = work

    def end_turn(self) -> None:
        """The turn is done, withdrawn or lost; the next one may be planned."""
        self.turn = None
        self.plan = None

    def begin_commit(self) -> None:
        """A commit is about to be spawned; :meth:`commit_phase` around it ends the phase."""
        self.committing = True

    def created(self, epoch: int) -> None:
        """The creation is durable, at the lease epoch its write decided."""
        self.epoch = epoch
        self.creation = None

    @contextmanager
    def commit_phase(self) -> Iterator[None]:
        """The instance is committing for the duration; it leaves the phase whatever happens."""
        self.committing = True
        try:
            yield
        finally:
            self.committing = False

    def board(self, msg_ids: list[int]) -> list[Rider]:
        """The riders among ``msg_ids``, now carried by a commit that settles them."""
        if not self.riders:
            return []
        boarding = [self.riders.pop(m) for m in msg_ids if m in self.riders]
        for rider in boarding:
            if rider.timer is not None:
                rider.timer.cancel()
                rider.timer = None
        return boarding

    def unseat(self, msg_id: int | None = None) -> None:
        """Riders not on a commit yet (one, or all) are to be written on their own."""
        ids = list(self.riders) if msg_id is None else [msg_id]
        for m in ids:
            rider = self.riders.pop(m, None)
            if rider is not None:
                rider.settle(None)

    def add_message(self, message: Message) -> bool:
        if message.msg_id in self.gone or any(m.msg_id == message.msg_id for m in self.state.inbox):
            return False
        inbox = self.state.inbox
        if inbox and inbox[-1].order > message.order:
            inbox.append(message)
            inbox.sort(key=lambda m: (m.order, m.msg_id))
        else:
            inbox.append(message)
        return True

    def remember_gone(self, ids: list[int]) -> None:
        self.gone.update(ids)
        if len(self.gone) > _GONE_LIMIT:
            self.gone = set(list(self.gone)[-_GONE_LIMIT // 2 :])

    def remove_messages(self, ids: list[int]) -> None:
        if not ids:
            return
        self.remember_gone(ids)
        drop = set(ids)
        self.state.inbox = [m for m in self.state.inbox if m.msg_id not in drop]


def has_terminate(state: InstanceState) -> bool:
    return not state.started and any(m.event.HasField("executionTerminated") for m in state.inbox)
