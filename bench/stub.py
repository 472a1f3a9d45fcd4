"""The ceiling: a stub ``TaskHubSidecarService`` with no engine logic and no disk.

It answers the message mix that ``series``/``parallel``/``empty`` workflows cost — StartInstance,
work items on the ``GetWorkItems`` stream, completions as unary calls, WaitForInstanceCompletion
— keeping each instance's history in a Python list and nothing else: no store, no durability,
no validation. Turns are sent as stateful-history deltas exactly as tether sends them, to the
same SDK worker with the same settings, on the same ``grpc.aio`` stack. StartInstance answers
once the first turn is done, as Dapr's sidecar does (the client sees a started, not a pending,
instance), so the stub holds the same conversation in the same order. A tether figure divided by
the stub's figure is "% of the ceiling" that the Python SDK and gRPC allow here.

``python -m bench.stub PORT`` serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from tether import pb


def _event(ts_ns: int, event_id: int = -1) -> Any:
    event = pb.HistoryEvent(eventId=event_id)
    event.timestamp.FromNanoseconds(ts_ns)
    return event


@dataclass(eq=False)
class Inst:
    instance_id: str
    name: str
    execution_id: str
    created: int
    history: list[Any] = field(default_factory=list)
    inbox: list[Any] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)
    token: str | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    output: str | None = None
    updated: int = 0
    warm: int = 0


class Stub:
    def __init__(self) -> None:
        self.instances: dict[str, Inst] = {}
        self.queues: list[asyncio.Queue[Any]] = []
        self.rr = 0

    def _push(self, item: Any) -> None:
        if not self.queues:
            return
        self.rr = (self.rr + 1) % len(self.queues)
        self.queues[self.rr].put_nowait(item)

    def _turn(self, inst: Inst) -> None:
        if inst.token is not None or not inst.inbox:
            return
        inst.token = uuid.uuid4().hex
        request = pb.WorkflowRequest(instanceId=inst.instance_id)
        request.executionId.value = inst.execution_id
        if 0 < inst.warm <= len(inst.history):
            request.pastEvents.extend(inst.history[inst.warm :])
            request.cachedHistory.eventCount = inst.warm
        else:
            request.pastEvents.extend(inst.history)
        inst.warm = len(inst.history)
        new = [_event(time.time_ns()), *inst.inbox]
        new[0].workflowStarted.SetInParent()
        inst.sent, inst.inbox = new, []
        request.newEvents.extend(new)
        self._push(pb.WorkItem(workflowRequest=request, completionToken=inst.token))

    async def Hello(self, request: Any, context: Any) -> Any:
        return pb.Empty()

    async def StartInstance(self, request: Any, context: Any) -> Any:
        now = time.time_ns()
        iid = request.instanceId or uuid.uuid4().hex
        inst = Inst(iid, request.name, uuid.uuid4().hex, now)
        started = _event(now)
        es = started.executionStarted
        es.name = request.name
        if request.HasField("input"):
            es.input.value = request.input.value
        es.workflowInstance.instanceId = iid
        es.workflowInstance.executionId.value = inst.execution_id
        inst.inbox.append(started)
        self.instances[iid] = inst
        self._turn(inst)
        await inst.started.wait()
        return pb.CreateInstanceResponse(instanceId=iid)

    async def GetWorkItems(self, request: Any, context: Any) -> Any:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self.queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self.queues.remove(q)

    async def CompleteOrchestratorTask(self, response: Any, context: Any) -> Any:
        inst = self.instances.get(response.instanceId)
        if inst is None or inst.token != response.completionToken:
            return pb.CompleteTaskResponse()
        now = time.time_ns()
        inst.history.extend(inst.sent)
        inst.sent = []
        inst.token = None
        inst.started.set()
        for action in response.actions:
            if action.HasField("scheduleTask"):
                st = action.scheduleTask
                event = _event(now, action.id)
                event.taskScheduled.name = st.name
                if st.HasField("input"):
                    event.taskScheduled.input.CopyFrom(st.input)
                event.taskScheduled.taskExecutionId = st.taskExecutionId
                inst.history.append(event)
                req = pb.ActivityRequest(name=st.name, taskId=action.id)
                if st.HasField("input"):
                    req.input.CopyFrom(st.input)
                req.workflowInstance.instanceId = inst.instance_id
                req.taskExecutionId = st.taskExecutionId
                self._push(pb.WorkItem(activityRequest=req, completionToken=uuid.uuid4().hex))
            elif action.HasField("completeWorkflow"):
                cw = action.completeWorkflow
                event = _event(now, action.id)
                event.executionCompleted.workflowStatus = cw.workflowStatus
                if cw.HasField("result"):
                    event.executionCompleted.result.CopyFrom(cw.result)
                    inst.output = cw.result.value
                inst.history.append(event)
                inst.updated = now
                inst.done.set()
                return pb.CompleteTaskResponse()
        self._turn(inst)
        return pb.CompleteTaskResponse()

    async def CompleteActivityTask(self, response: Any, context: Any) -> Any:
        inst = self.instances.get(response.instanceId)
        if inst is not None and not inst.done.is_set():
            event = _event(time.time_ns())
            event.taskCompleted.taskScheduledId = response.taskId
            if response.HasField("result"):
                event.taskCompleted.result.CopyFrom(response.result)
            inst.inbox.append(event)
            self._turn(inst)
        return pb.CompleteTaskResponse()

    async def WaitForInstanceCompletion(self, request: Any, context: Any) -> Any:
        inst = self.instances.get(request.instanceId)
        if inst is None:
            return pb.GetInstanceResponse(exists=False)
        await inst.done.wait()
        state = pb.WorkflowState(instanceId=inst.instance_id, name=inst.name)
        state.workflowStatus = pb.COMPLETED
        state.createdTimestamp.FromNanoseconds(inst.created)
        state.lastUpdatedTimestamp.FromNanoseconds(inst.updated)
        if inst.output is not None:
            state.output.value = inst.output
        # A real sidecar forgets nothing; the stub forgets finished instances to stay flat.
        self.instances.pop(inst.instance_id, None)
        return pb.GetInstanceResponse(exists=True, workflowState=state)


async def serve(port: int) -> None:
    stub = Stub()
    unary = [
        ("Hello", pb.Empty, pb.Empty),
        ("StartInstance", pb.CreateInstanceRequest, pb.CreateInstanceResponse),
        ("WaitForInstanceCompletion", pb.GetInstanceRequest, pb.GetInstanceResponse),
        ("CompleteActivityTask", pb.ActivityResponse, pb.CompleteTaskResponse),
        ("CompleteOrchestratorTask", pb.WorkflowResponse, pb.CompleteTaskResponse),
    ]
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(stub, name),
            request_deserializer=req.FromString,
            response_serializer=resp.SerializeToString,
        )
        for name, req, resp in unary
    }
    handlers["GetWorkItems"] = grpc.unary_stream_rpc_method_handler(
        stub.GetWorkItems,
        request_deserializer=pb.GetWorkItemsRequest.FromString,
        response_serializer=pb.WorkItem.SerializeToString,
    )
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", -1)])
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("TaskHubSidecarService", handlers)]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
