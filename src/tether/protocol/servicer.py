"""The ``TaskHubSidecarService`` servicer: protocol messages in, engine calls, messages out."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from tether import pb
from tether.core.events import from_timestamp, timestamp_problem
from tether.core.ids import instance_id_problem
from tether.core.rerun import RerunRequest
from tether.engine.convert import workflow_state
from tether.engine.engine import Engine
from tether.errors import InvalidArgument, TetherError
from tether.telemetry import observed
from tether.telemetry.context import trace_context_from_metadata

log = logging.getLogger(__name__)

_TERMINAL = pb.TERMINAL_STATUSES


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_repeated(field: int, items: list[bytes]) -> bytes:
    """Wire bytes of a repeated message field from already-serialized items (no re-encoding)."""
    tag = _varint(field << 3 | 2)
    return b"".join(tag + _varint(len(item)) + item for item in items)


def _guard(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Map tether errors to gRPC status codes with their message."""

    @functools.wraps(fn)
    async def wrapper(self: Servicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except TetherError as exc:
            await context.abort(getattr(grpc.StatusCode, exc.grpc_code), exc.message)

    return wrapper


def _detach(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Changes run to the end even if the caller hangs up mid-commit (see Runtime.detached)."""

    @functools.wraps(fn)
    async def wrapper(self: Servicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.engine.detached(fn(self, request, context))

    return wrapper


def _checked_time(message: Any, field: str) -> Any | None:
    """A request's optional timestamp field; INVALID_ARGUMENT when it is not a valid timestamp."""
    if not message.HasField(field):
        return None
    value = getattr(message, field)
    problem = timestamp_problem(value)
    if problem is not None:
        raise InvalidArgument(f"{field}: {problem}; send a time between years 1 and 9999")
    return value


def _checked_id(instance_id: str, field: str) -> str:
    """An instance ID a request creates; INVALID_ARGUMENT when it breaks the ID rule."""
    problem = instance_id_problem(instance_id)
    if problem is not None:
        raise InvalidArgument(f"{field}: {problem}")
    return instance_id


def _checked_ns(message: Any, field: str) -> int | None:
    value = _checked_time(message, field)
    return None if value is None else from_timestamp(value)


def _time_left(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    if remaining is None or remaining > 10**8:
        return None
    return max(0.0, float(remaining) - 0.05)


class Servicer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def settings(self) -> Any:
        return self.engine.settings

    def _target(self, request: Any) -> str | None:
        """The app a request is routed to, or None for this sidecar's own app."""
        if request.HasField("router") and request.router.HasField("targetAppID"):
            target = request.router.targetAppID
            if target and target != self.engine.app_id:
                return str(target)
        return None

    async def Hello(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.Empty()

    @_guard
    async def StartInstance(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.name:
            raise InvalidArgument("a workflow name is required to start an instance")
        scheduled = _checked_time(request, "scheduledStartTimestamp")
        if request.instanceId:  # empty: tether generates one
            _checked_id(request.instanceId, "instanceId")
        instance_id = await self.engine.create_instance(
            request.name,
            request.instanceId,
            request.input.value if request.HasField("input") else None,
            scheduled_start=scheduled,
            enforce_unique=request.enforceUniqueInstanceId,
            tags=dict(request.tags),
            trace=request.parentTraceContext
            if request.HasField("parentTraceContext")
            else trace_context_from_metadata(context.invocation_metadata()),
            version=request.version.value if request.HasField("version") else None,
            app_id=self._target(request),
        )
        return pb.CreateInstanceResponse(instanceId=instance_id)

    @_guard
    @observed("get_workflow")
    async def GetInstance(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        row = await self.engine.query.row(request.instanceId)
        if row is None:
            return pb.GetInstanceResponse(exists=False)
        return pb.GetInstanceResponse(
            exists=True, workflowState=workflow_state(row, request.getInputsAndOutputs)
        )

    async def _wait(
        self, request: Any, context: grpc.aio.ServicerContext, done: Callable[[int], bool]
    ) -> Any:
        row = await self.engine.wait_for(
            request.instanceId, lambda r: done(r.status), _time_left(context)
        )
        if row is None:
            return pb.GetInstanceResponse(exists=False)
        if not done(row.status) and self.engine.running:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"workflow instance '{request.instanceId}' did not reach the awaited state in time",
            )
        return pb.GetInstanceResponse(
            exists=True, workflowState=workflow_state(row, request.getInputsAndOutputs)
        )

    @_guard
    async def WaitForInstanceStart(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._wait(request, context, lambda s: s != pb.PENDING)

    @_guard
    async def WaitForInstanceCompletion(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        return await self._wait(request, context, lambda s: s in _TERMINAL)

    @_guard
    @_detach
    async def RaiseEvent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.engine.raise_event(
            request.instanceId,
            request.name,
            request.input.value if request.HasField("input") else None,
        )
        return pb.RaiseEventResponse()

    @_guard
    @_detach
    async def TerminateInstance(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.engine.terminate(
            request.instanceId,
            request.output.value if request.HasField("output") else None,
            request.recursive,
        )
        return pb.TerminateResponse()

    @_guard
    @_detach
    async def SuspendInstance(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.engine.suspend(
            request.instanceId, request.reason.value if request.HasField("reason") else None
        )
        return pb.SuspendResponse()

    @_guard
    @_detach
    async def ResumeInstance(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.engine.resume(
            request.instanceId, request.reason.value if request.HasField("reason") else None
        )
        return pb.ResumeResponse()

    @_guard
    @_detach
    async def PurgeInstances(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        force = request.force if request.HasField("force") else False
        which = request.WhichOneof("request")
        if which == "instanceId":
            count = await self.engine.purge(request.instanceId, request.recursive, force)
        elif which == "purgeInstanceFilter":
            flt = request.purgeInstanceFilter
            count = await self.engine.purge_where(
                _checked_ns(flt, "createdTimeFrom"),
                _checked_ns(flt, "createdTimeTo"),
                [int(s) for s in flt.runtimeStatus] or None,
                request.recursive,
                force,
            )
        else:
            raise InvalidArgument("purge needs an instance ID or a filter")
        response = pb.PurgeInstancesResponse(deletedInstanceCount=count)
        response.isComplete.value = True
        return response

    async def GetWorkItems(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            stream = self.engine.connect_worker(list(request.capabilities))
        except TetherError as exc:
            await context.abort(getattr(grpc.StatusCode, exc.grpc_code), exc.message)
        ping_every = self.settings.health_ping_seconds if stream.wants_health_ping else None
        try:
            while True:
                if not stream.queue.empty():
                    item = stream.queue.get_nowait()  # under load: no timer, no task per item
                else:
                    try:
                        item = await asyncio.wait_for(stream.queue.get(), ping_every)
                    except TimeoutError:
                        yield pb.WorkItem(healthPing=pb.HealthPing())
                        continue
                if item is None:
                    # UNAVAILABLE, not CANCELLED: the SDK worker reconnects after UNAVAILABLE
                    # but stops for good after CANCELLED.
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "tether is shutting down")
                yield item
        finally:
            self.engine.disconnect_worker(stream)

    @_guard
    @_detach
    async def CompleteActivityTask(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.engine.complete_activity(request)
        return pb.CompleteTaskResponse()

    @_guard
    @_detach
    async def CompleteOrchestratorTask(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        await self.engine.complete_turn(request)
        return pb.CompleteTaskResponse()

    CompleteWorkflowTask = CompleteOrchestratorTask

    @_guard
    @_detach
    async def RerunWorkflowFromEvent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        for field in ("newInstanceID", "newChildWorkflowInstanceID"):
            if request.HasField(field) and getattr(request, field):
                _checked_id(getattr(request, field), field)
        new_id = await self.engine.rerun(
            RerunRequest(
                source_instance_id=request.sourceInstanceID,
                event_id=request.eventID,
                new_instance_id=request.newInstanceID
                if request.HasField("newInstanceID")
                else None,
                input=request.input.value if request.HasField("input") else None,
                overwrite_input=request.overwriteInput,
                new_child_instance_id=(
                    request.newChildWorkflowInstanceID
                    if request.HasField("newChildWorkflowInstanceID")
                    else None
                ),
                # The request has no trace field: a caller's context comes as metadata.
                trace=trace_context_from_metadata(context.invocation_metadata()),
            )
        )
        return pb.RerunWorkflowFromEventResponse(newInstanceID=new_id)

    @_guard
    async def ListInstanceIDs(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        after = request.continuationToken if request.HasField("continuationToken") else None
        page = request.pageSize if request.HasField("pageSize") else None
        ids, token = await self.engine.query.instance_ids(
            self.engine.app_id, after or None, page or None
        )
        response = pb.ListInstanceIDsResponse(instanceIds=ids)
        if token is not None:
            response.continuationToken = token
        return response

    @_guard
    async def GetInstanceHistory(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        events = await self.engine.query.raw_history(request.instanceId)
        return pb.GetInstanceHistoryResponse.FromString(encode_repeated(1, events))


UNARY = [
    ("Hello", pb.Empty, pb.Empty),
    ("StartInstance", pb.CreateInstanceRequest, pb.CreateInstanceResponse),
    ("GetInstance", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("WaitForInstanceStart", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("WaitForInstanceCompletion", pb.GetInstanceRequest, pb.GetInstanceResponse),
    ("RaiseEvent", pb.RaiseEventRequest, pb.RaiseEventResponse),
    ("TerminateInstance", pb.TerminateRequest, pb.TerminateResponse),
    ("SuspendInstance", pb.SuspendRequest, pb.SuspendResponse),
    ("ResumeInstance", pb.ResumeRequest, pb.ResumeResponse),
    ("PurgeInstances", pb.PurgeInstancesRequest, pb.PurgeInstancesResponse),
    ("CompleteActivityTask", pb.ActivityResponse, pb.CompleteTaskResponse),
    ("CompleteOrchestratorTask", pb.WorkflowResponse, pb.CompleteTaskResponse),
    ("CompleteWorkflowTask", pb.WorkflowResponse, pb.CompleteTaskResponse),
    ("RerunWorkflowFromEvent", pb.RerunWorkflowFromEventRequest, pb.RerunWorkflowFromEventResponse),
    ("ListInstanceIDs", pb.ListInstanceIDsRequest, pb.ListInstanceIDsResponse),
    ("GetInstanceHistory", pb.GetInstanceHistoryRequest, pb.GetInstanceHistoryResponse),
]


def generic_handler(servicer: Servicer) -> grpc.GenericRpcHandler:
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for name, request_type, response_type in UNARY:
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )
    handlers["GetWorkItems"] = grpc.unary_stream_rpc_method_handler(
        servicer.GetWorkItems,
        request_deserializer=pb.GetWorkItemsRequest.FromString,
        response_serializer=pb.WorkItem.SerializeToString,
    )
    return grpc.method_handlers_generic_handler("TaskHubSidecarService", handlers)
