"""The Dapr runtime gRPC API (``dapr.proto.runtime.v1.Dapr``): its workflow calls and GetMetadata.

The workflow calls (``*WorkflowAlpha1`` and ``*WorkflowBeta1``, the same handler for both) are
what ``DaprClient.start_workflow`` (Python SDK <= 1.17), Go's ``client.StartWorkflow`` and .NET's
``DaprClient.StartWorkflowAsync`` use. Requests, responses and errors follow daprd's
``pkg/api/universal/workflow.go``:

* the workflow component name is accepted and ignored (daprd has had no workflow components since
  1.15; every name reaches the one built-in engine, ``dapr``);
* GetWorkflow of an unknown instance answers OK with only ``instance_id`` set (daprd's HTTP door
  turns that into a 404); terminate and purge of one answer NOT_FOUND; pause, resume and raise
  answer INTERNAL with daprd's "error pausing workflow …" wording;
* instance IDs are checked for characters and length on start only; terminate and purge are
  recursive; a start does not wait for the first step (as over HTTP).

Every other RPC of the ``Dapr`` service answers UNIMPLEMENTED saying that tether serves workflows
only.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from tether import __version__, pb
from tether.engine.engine import Engine
from tether.errors import NotFound, TetherError
from tether.httpapi.common import instance_id_problem
from tether.httpapi.views import dapr_instance

SERVICE = "dapr.proto.runtime.v1.Dapr"
WORKFLOW_COMPONENT = "dapr"
START_TIME_OPTION = "dapr.workflow.start_time"
_VERSIONS = ("Alpha1", "Beta1")


class DaprError(Exception):
    """A daprd ``APIError``: a gRPC status code and daprd's message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> DaprError:
    return DaprError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _internal(message: str) -> DaprError:
    return DaprError(grpc.StatusCode.INTERNAL, message)


def _not_found(instance_id: str) -> DaprError:
    return DaprError(
        grpc.StatusCode.NOT_FOUND,
        f"unable to find workflow with the provided instance ID: {instance_id}",
    )


def _answers(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn a :class:`DaprError` into its gRPC status; unexpected tether errors keep theirs."""

    @functools.wraps(fn)
    async def wrapper(self: DaprApi, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except DaprError as exc:
            await context.abort(exc.code, exc.message)

    return wrapper


def _check_instance_id(instance_id: str, creating: bool) -> None:
    if not instance_id:
        raise _invalid("no instance ID was provided")
    if creating:
        problem = instance_id_problem(instance_id)
        if problem is not None:
            raise _invalid(problem.message)


class DaprApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _target_app(self, request: Any) -> str | None:
        """daprd's ``targetAppID``: None for this sidecar's own app (or none given)."""
        app_id = request.app_id if request.HasField("app_id") else ""
        if not app_id or app_id == self.engine.app_id:
            return None
        if not all(c.isalnum() or c in "-_" for c in app_id):
            raise _invalid(
                f"workflow app ID '{app_id}' is invalid: only alphanumeric, dash and underscore "
                "characters are allowed"
            )
        return str(app_id)

    @_answers
    async def StartWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        instance_id = request.instance_id or str(uuid.uuid4())
        _check_instance_id(instance_id, creating=True)
        name = request.workflow_name
        if not name:
            raise _invalid("workflow name is not configured")
        app_id = self._target_app(request)
        scheduled = None
        if START_TIME_OPTION in request.options:
            scheduled = _start_time(name, request.options[START_TIME_OPTION])
        try:
            await self.engine.detached(
                self.engine.create_instance(
                    name,
                    instance_id,
                    bytes(request.input).decode("utf-8", errors="replace"),
                    scheduled_start=scheduled,
                    app_id=app_id,
                    wait=False,
                )
            )
        except TetherError as exc:
            raise _internal(
                f"error starting workflow '{name}': unable to start workflow: {exc.message}"
            ) from exc
        return pb.StartWorkflowResponse(instance_id=instance_id)

    @_answers
    async def GetWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        instance_id = request.instance_id
        _check_instance_id(instance_id, creating=False)
        self._target_app(request)
        try:
            view = await self.engine.query.instance(instance_id)
        except TetherError as exc:
            raise _internal(
                f"error while getting workflow info on instance '{instance_id}': "
                f"failed to get workflow metadata for '{instance_id}': {exc.message}"
            ) from exc
        if view is None:
            return pb.GetWorkflowResponse(instance_id=instance_id)
        document = dapr_instance(view)
        response = pb.GetWorkflowResponse(
            instance_id=instance_id,
            workflow_name=view.name,
            runtime_status=document["runtimeStatus"],
            properties=document.get("properties", {}),
        )
        if view.created_at is not None:
            response.created_at.FromNanoseconds(view.created_at)
        if view.updated_at is not None:
            response.last_updated_at.FromNanoseconds(view.updated_at)
        return response

    async def _control(
        self,
        request: Any,
        change: Callable[[str], Awaitable[Any]],
        failed: str,
        missing_is_not_found: bool,
    ) -> Any:
        """Terminate, pause, resume, purge: daprd's checks, then the change, then its errors.

        ``failed`` is daprd's message with ``{id}`` for the instance ID."""
        instance_id = request.instance_id
        _check_instance_id(instance_id, creating=False)
        self._target_app(request)
        try:
            await self.engine.detached(change(instance_id))
        except NotFound as exc:
            if missing_is_not_found:
                raise _not_found(instance_id) from exc
            raise _internal(f"{failed.format(id=instance_id)}: {exc.message}") from exc
        except TetherError as exc:
            raise _internal(f"{failed.format(id=instance_id)}: {exc.message}") from exc
        return pb.Empty()

    @_answers
    async def TerminateWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._control(
            request,
            lambda iid: self.engine.terminate(iid, None, True, wait=False),
            "error terminating workflow '{id}': failed to terminate workflow {id}",
            missing_is_not_found=True,
        )

    @_answers
    async def PauseWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._control(
            request,
            lambda iid: self.engine.suspend(iid, None, wait=False),
            "error pausing workflow {id}: failed to pause workflow {id}",
            missing_is_not_found=False,
        )

    @_answers
    async def ResumeWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._control(
            request,
            lambda iid: self.engine.resume(iid, None, wait=False),
            "error resuming workflow {id}: failed to resume workflow {id}",
            missing_is_not_found=False,
        )

    @_answers
    async def PurgeWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._control(
            request,
            lambda iid: self.engine.purge(iid, True),
            "error purging workflow {id}: failed to Purge workflow {id}",
            missing_is_not_found=True,
        )

    @_answers
    async def RaiseEventWorkflow(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        instance_id = request.instance_id
        _check_instance_id(instance_id, creating=False)
        if not request.event_name:
            raise _invalid("missing workflow event name")
        self._target_app(request)
        data = bytes(request.event_data).decode("utf-8", errors="replace")
        try:
            await self.engine.detached(
                self.engine.raise_event(instance_id, request.event_name, data)
            )
        except TetherError as exc:
            raise _internal(
                f"error raising event on workflow '{instance_id}': failed to raise event "
                f"{request.event_name} on workflow {instance_id}: {exc.message}"
            ) from exc
        return pb.Empty()

    async def GetMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        engine = self.engine
        response = pb.GetMetadataResponse(
            id=engine.app_id,
            runtime_version=f"tether {__version__}",
            registered_components=[
                pb.RegisteredComponents(name=WORKFLOW_COMPONENT, type="workflow.dapr", version="v1")
            ],
        )
        response.workflows.connected_workers = len(engine.dispatcher.streams)
        response.extended_metadata["store"] = engine.store.kind
        app_port = engine.settings.app_port
        if app_port:
            props = response.app_connection_properties
            props.port = app_port
            props.protocol = engine.settings.app_protocol
            props.channel_address = engine.settings.app_channel_address
        return response


def _start_time(name: str, value: str) -> Any:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(value)
    except ValueError:
        raise _internal(
            f"error starting workflow '{name}': start times must be in RFC3339 format "
            '(e.g. "2009-11-10T23:00:00Z")'
        ) from None
    if parsed >= _LAST_START:
        raise _internal(
            f"error starting workflow '{name}': the start time {value} is after "
            f"{_LAST_START.date()}, the latest tether can store"
        )
    stamp = pb.Timestamp()
    stamp.FromDatetime(parsed)
    return stamp


# Times are stored as signed 64-bit nanoseconds since 1970.
_LAST_START = datetime(2262, 4, 11, tzinfo=UTC)


_WORKFLOW_CALLS = {
    "StartWorkflow": (pb.StartWorkflowRequest, pb.StartWorkflowResponse),
    "GetWorkflow": (pb.GetWorkflowRequest, pb.GetWorkflowResponse),
    "TerminateWorkflow": (pb.TerminateWorkflowRequest, pb.Empty),
    "RaiseEventWorkflow": (pb.RaiseEventWorkflowRequest, pb.Empty),
    "PauseWorkflow": (pb.PauseWorkflowRequest, pb.Empty),
    "ResumeWorkflow": (pb.ResumeWorkflowRequest, pb.Empty),
    "PurgeWorkflow": (pb.PurgeWorkflowRequest, pb.Empty),
}


class DaprApiHandler(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Routes ``dapr.proto.runtime.v1.Dapr/*``: the workflow calls, GetMetadata, and the rest."""

    def __init__(self, api: DaprApi) -> None:
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for call, (request_type, response_type) in _WORKFLOW_CALLS.items():
            for version in _VERSIONS:
                handlers[f"/{SERVICE}/{call}{version}"] = grpc.unary_unary_rpc_method_handler(
                    getattr(api, call),
                    request_deserializer=request_type.FromString,
                    response_serializer=response_type.SerializeToString,
                )
        handlers[f"/{SERVICE}/GetMetadata"] = grpc.unary_unary_rpc_method_handler(
            api.GetMetadata,
            request_deserializer=pb.GetMetadataRequest.FromString,
            response_serializer=pb.GetMetadataResponse.SerializeToString,
        )
        for method in pb.DAPR_SERVICE.methods:
            path = f"/{SERVICE}/{method.name}"
            if path not in handlers:
                handlers[path] = grpc.stream_stream_rpc_method_handler(_refuse(method.name))
        self._handlers = handlers

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(details.method)


def _refuse(method: str) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    """A handler for any cardinality (every call is a stream on the wire) that refuses at once."""

    async def refuse(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{SERVICE}/{method} is not served: tether is a Dapr sidecar for workflows only "
            "(the workflow calls and GetMetadata); run daprd for the other building blocks",
        )
        yield None  # pragma: no cover

    return refuse
