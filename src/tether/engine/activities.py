"""Activity tasks: sending them to workers and taking their results.

A result is accepted only by the transaction that deletes its task row (``Tx.take_task``), so
at most once whoever delivers it, fenced-out owners included. The result of an activity this
node dispatched to an instance it runs joins the inbox in memory at once, starting the next
turn while its own commit is on the way (``Active.unsaved``). If that write fails for good the
instance is recovered (reloaded, its tasks sent again), so the result is asked for again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tether import pb
from tether.core.events import task_result
from tether.core.state import Message, TaskSpec
from tether.engine.convert import new_msg_id, now_ns
from tether.engine.dispatch import Work, WorkerStream, token_execution
from tether.engine.host import Host
from tether.engine.instances import Active, Rider
from tether.engine.txops import append_message
from tether.errors import TetherError
from tether.store.base import MessageRow, Tx

log = logging.getLogger(__name__)

_REDISPATCH_DELAY = 1.0
# How long a result waits for the commit of the turn it started before it is written on its own
# (a slow worker must not hold a result's acknowledgement for long).
_RIDE_WAIT = 0.25


class Activities(Host):
    def dispatch_task(self, task: TaskSpec) -> None:
        item = pb.WorkItem(activityRequest=task.request)

        def build(stream: WorkerStream) -> Any:
            item.completionToken = work.token
            return item

        work = Work(
            kind="activity",
            instance_id=task.instance_id,
            execution_id=task.execution_id,
            task_id=task.task_id,
            build=build,
        )
        active = self.active.get(task.instance_id)
        if active is not None:
            active.tasks[task.task_id] = work
        self.dispatcher.send(work)

    async def complete_activity(self, response: Any) -> None:
        work = self.dispatcher.tokens.get(response.completionToken)
        active = self.active.get(work.instance_id) if work is not None else None
        if (
            work is not None
            and work.kind == "activity"
            and active is not None
            and active.tasks.get(work.task_id) is work
            and active.creation is None
        ):
            await self._complete_known_activity(active, work, response)
            return
        execution_id: str | None
        if work is not None and work.kind == "activity":
            instance_id, execution_id, task_id = work.instance_id, work.execution_id, work.task_id
        else:
            # The token's bookkeeping is gone (its stream died, or tether restarted): the token
            # still names its execution, so a result of an older generation is never taken for
            # the current one's task with the same ID.
            instance_id, task_id = response.instanceId, response.taskId
            execution_id = token_execution(response.completionToken)
        now = now_ns()

        def commit(tx: Tx) -> tuple[MessageRow | None, str | None]:
            """The result's inbox row (None if its task is gone) and its execution."""
            route = tx.instance_route(instance_id)
            if route is None or route[1] in pb.TERMINAL_STATUSES:
                return None, execution_id
            app_id, _, current_execution = route
            owner_execution = execution_id or current_execution
            if not tx.take_task(instance_id, owner_execution, task_id):
                return None, owner_execution
            event = task_result(now, task_id, response)
            row = append_message(tx, instance_id, app_id, event, owner_execution, now)
            return row, owner_execution

        try:
            delivered, result_execution = await self.write(
                commit, f"storing an activity result of {instance_id!r}"
            )
        except TetherError as exc:
            # The task row is still there: ask for the result again instead of dropping it.
            if instance_id in self.active:
                self.recover(instance_id, exc)
            elif work is not None and work.kind == "activity":
                log.error("storing an activity result of %r failed; resending it", instance_id)
                self.spawn(self._redispatch_later(work))
            else:
                raise
            return
        active = self.active.get(instance_id)
        done = active.tasks.get(task_id) if active is not None else None
        # Task IDs restart with each execution: a late result of an older one (a duplicate, or
        # one sent after a continue-as-new) must leave the current execution's task alone.
        if active is not None and done is not None and done.execution_id == result_execution:
            del active.tasks[task_id]
            self.dispatcher.finish(done)
        if work is not None:
            self.dispatcher.finish(work)
        if delivered is not None:
            self.route([delivered])

    async def _redispatch_later(self, work: Work) -> None:
        await asyncio.sleep(_REDISPATCH_DELAY)
        if self.running and not work.done:
            self.dispatcher.resend(work)

    async def _complete_known_activity(self, active: Active, work: Work, response: Any) -> None:
        """The result of an activity this node dispatched to a live instance: it joins the inbox
        now and starts the next turn. When that turn is on its way to a worker at once, the
        result rides on the turn's commit (one commit, no inbox row); otherwise, or when that
        commit does not come within ``_RIDE_WAIT``, it is written on its own meanwhile."""
        instance_id, task_id, execution_id = work.instance_id, work.task_id, work.execution_id
        now = now_ns()
        message = Message(
            msg_id=new_msg_id(),
            event=task_result(now, task_id, response),
            visible_at=0,
            execution_id=execution_id,
            order=now,
        )
        app_id = active.state.app_id
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[bool] = loop.create_future()
        active.unsaved[message.msg_id] = stored
        active.tasks.pop(task_id, None)
        self.dispatcher.finish(work)
        active.add_message(message)
        rider = Rider(message.msg_id, instance_id, execution_id, task_id, loop.create_future())
        active.riders[message.msg_id] = rider
        self.schedule(active)
        turn, plan = active.turn, active.plan
        if (
            turn is not None
            and turn.stream is not None
            and plan is not None
            and message.msg_id in plan.consumed
        ):
            rider.timer = loop.call_later(_RIDE_WAIT, active.unseat, message.msg_id)
        else:
            active.unseat(message.msg_id)

        def commit(tx: Tx) -> bool:
            if not tx.take_task(instance_id, execution_id, task_id):
                return False
            event = message.event
            append_message(tx, instance_id, app_id, event, execution_id, now, message.msg_id)
            return True

        ok = False
        failure: BaseException | None = None
        try:
            ok = bool(await rider.outcome) or await self.write(
                commit, f"storing an activity result of {instance_id!r}"
            )
        except Exception as exc:  # whatever failed, the result is asked for again
            failure = exc
            if not isinstance(exc, TetherError):
                raise
        finally:
            active.unsaved.pop(message.msg_id, None)
            stored.set_result(ok)
            if not ok and self.active.get(instance_id) is active:
                # Memory ran ahead of a write that did not happen: reload what the store holds,
                # and send the task again (its row is still there) so the result is not lost.
                self.recover(instance_id, failure or RuntimeError("the task was already taken"))
