"""The one module that touches the Dapr SDK's internal worker classes.

Embedded mode drives the SDK's own orchestration and activity executors
(``dapr/ext/workflow/_durabletask/worker.py``) in this process instead of its gRPC worker. Those
classes are not public API, so everything that depends on their shape lives here, the supported
SDK range is pinned in ``pyproject.toml``, and :func:`check_sdk_shape` (run when an embedded
runtime starts, and by a test) fails with a message naming the installed SDK version if they
change.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from dapr.ext.workflow import dapr_workflow_client as _client
from dapr.ext.workflow import workflow_runtime as _runtime
from dapr.ext.workflow._durabletask import worker as _worker
from dapr.ext.workflow._durabletask.internal import helpers as _helpers
from dapr.ext.workflow._durabletask.internal.shared import is_async_callable
from dapr.ext.workflow.aio import dapr_workflow_client as _aio_client
from dapr.ext.workflow.propagation import PropagatedHistory

from tether import pb

SUPPORTED = "dapr[workflow] >=1.19,<1.20"

# The SDK's own public classes (embedded mode subclasses them; taken before install() below
# may point the SDK's names at the subclasses).
SdkWorkflowRuntime: Any = _runtime.WorkflowRuntime
SdkDaprWorkflowClient: Any = _client.DaprWorkflowClient
SdkAsyncDaprWorkflowClient: Any = _aio_client.DaprWorkflowClient

# Attributes the embedded runtime relies on, per internal class.
_SHAPE: dict[str, tuple[Any, tuple[str, ...]]] = {
    "_OrchestrationExecutor": (_worker._OrchestrationExecutor, ("execute", "process_event")),
    "_RuntimeOrchestrationContext": (
        _worker._RuntimeOrchestrationContext,
        ("set_propagated_history", "set_failed", "set_version_not_registered", "get_actions"),
    ),
    "_ActivityExecutor": (_worker._ActivityExecutor, ("execute", "execute_async")),
    "_Registry": (_worker._Registry, ("get_activity", "get_orchestrator")),
    "ConcurrencyOptions": (_worker.ConcurrencyOptions, ()),
}
_WORKER_FIELDS = (
    "_registry",
    "_concurrency_options",
    "_disable_stateful_history",
    "_history_cache",
)
_CONTEXT_FIELDS = (
    "_is_replaying",
    "_is_complete",
    "_encoded_custom_status",
    "_encountered_patches",
    "_pending_actions",
)
_EXECUTE_PARAMS = ["self", "instance_id", "old_events", "new_events", "propagated_history"]
_ACTIVITY_PARAMS = [
    "self",
    "fn",
    "orchestration_id",
    "name",
    "task_id",
    "encoded_input",
    "task_execution_id",
    "propagated_history",
]


def sdk_version() -> str:
    try:
        return metadata.version("dapr")
    except metadata.PackageNotFoundError:
        return "unknown"


def check_sdk_shape() -> None:
    """Raise if the installed SDK's internal executors are not shaped as embedded mode expects."""
    problems: list[str] = []
    for name, (cls, attrs) in _SHAPE.items():
        problems += [f"{name}.{a}" for a in attrs if not hasattr(cls, a)]
    try:
        ctx = _worker._RuntimeOrchestrationContext("shape-check")
        problems += [
            f"_RuntimeOrchestrationContext.{f}" for f in _CONTEXT_FIELDS if not hasattr(ctx, f)
        ]
        options = _worker.ConcurrencyOptions()
        for f in (
            "maximum_concurrent_activity_work_items",
            "maximum_concurrent_orchestration_work_items",
            "maximum_thread_pool_workers",
        ):
            if not hasattr(options, f):
                problems.append(f"ConcurrencyOptions.{f}")
        problems += _public_object_problems()
    except Exception as exc:  # the constructors themselves changed
        problems.append(f"constructing the SDK's objects failed: {exc!r}")
    signatures = [
        (_worker._OrchestrationExecutor.execute, _EXECUTE_PARAMS, "_OrchestrationExecutor.execute"),
        (_worker._ActivityExecutor.execute, _ACTIVITY_PARAMS, "_ActivityExecutor.execute"),
        (
            _worker._ActivityExecutor.execute_async,
            _ACTIVITY_PARAMS,
            "_ActivityExecutor.execute_async",
        ),
    ]
    for fn, expected, label in signatures:
        if callable(fn) and list(inspect.signature(fn).parameters) != expected:
            problems.append(f"{label}{inspect.signature(fn)}")
    if problems:
        raise RuntimeError(
            f"tether's embedded mode supports {SUPPORTED}, but the installed dapr "
            f"{sdk_version()} changed the SDK's internal worker classes it drives: "
            f"{', '.join(problems)}. Install a supported dapr version or use the sidecar "
            "(`tether run`)."
        )


def _public_object_problems() -> list[str]:
    problems = []
    runtime = SdkWorkflowRuntime(host="127.0.0.1", port="1")
    sdk_worker = getattr(runtime, "_WorkflowRuntime__worker", None)
    if not isinstance(sdk_worker, _worker.TaskHubGrpcWorker):
        problems.append("WorkflowRuntime.__worker")
    problems += [f"TaskHubGrpcWorker.{f}" for f in _WORKER_FIELDS if not hasattr(sdk_worker, f)]
    client = SdkDaprWorkflowClient(host="127.0.0.1", port="1")
    inner = getattr(client, "_DaprWorkflowClient__obj", None)
    if not (hasattr(inner, "_stub") and hasattr(inner, "_channel")):
        problems.append("DaprWorkflowClient.__obj._stub")
    if inner is not None and hasattr(inner, "_channel"):
        inner._channel.close()
    aclient = SdkAsyncDaprWorkflowClient(host="127.0.0.1", port="1")
    ainner = getattr(aclient, "_DaprWorkflowClient__obj", None)
    if not (hasattr(ainner, "_stub") and hasattr(ainner, "_get_stub")):
        problems.append("aio.DaprWorkflowClient.__obj._stub")
    return problems


@dataclass(frozen=True)
class WorkerOptions:
    """What a ``WorkflowRuntime`` was configured with, read from its SDK worker."""

    registry: Any
    logger: logging.Logger  # the SDK worker's (with the runtime's logger options)
    max_activities: int
    max_turns: int
    thread_pool_workers: int
    stateful: bool
    cache_max_instances: int
    cache_ttl: float


def worker_options(sdk_worker: Any, cache_max_instances: int, cache_ttl: float) -> WorkerOptions:
    options = sdk_worker._concurrency_options
    cache = sdk_worker._history_cache
    return WorkerOptions(
        registry=sdk_worker._registry,
        logger=sdk_worker._logger,
        max_activities=options.maximum_concurrent_activity_work_items,
        max_turns=options.maximum_concurrent_orchestration_work_items,
        thread_pool_workers=options.maximum_thread_pool_workers,
        stateful=not sdk_worker._disable_stateful_history,
        cache_max_instances=getattr(cache, "_max_instances", 0) or cache_max_instances,
        cache_ttl=getattr(cache, "_ttl", 0) or cache_ttl,
    )


# -- orchestrations ---------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class LiveOrchestration:
    """An orchestrator generator kept alive between turns, with every event it has seen."""

    executor: Any
    ctx: Any
    seen: int = 0  # events processed so far
    events: list[Any] | None = None  # every event processed, in order, when recording

    @property
    def complete(self) -> bool:
        return bool(self.ctx._is_complete)


def new_orchestration(
    registry: Any, logger: logging.Logger, instance_id: str, record: bool
) -> LiveOrchestration:
    return LiveOrchestration(
        executor=_worker._OrchestrationExecutor(registry, logger),
        ctx=_worker._RuntimeOrchestrationContext(instance_id),
        events=[] if record else None,
    )


def advance(
    live: LiveOrchestration, old_events: list[Any], new_events: list[Any], request: Any
) -> Any:
    """Feed events to a live orchestration as ``_OrchestrationExecutor.execute`` does (old ones
    replaying, new ones not) and return the turn's ``WorkflowResponse`` (without token)."""
    ctx, executor = live.ctx, live.executor
    ctx.set_propagated_history(
        PropagatedHistory.from_proto(request.propagatedHistory)
        if request.HasField("propagatedHistory")
        else None
    )
    live.seen += len(old_events) + len(new_events)
    if live.events is not None:
        live.events += old_events
        live.events += new_events
    try:
        ctx._is_replaying = True
        for event in old_events:
            executor.process_event(ctx, event)
        ctx._is_replaying = False
        for event in new_events:
            executor.process_event(ctx, event)
    except _worker.VersionNotRegisteredException:
        ctx.set_version_not_registered()
    except Exception as ex:
        ctx.set_failed(ex)
    return _response(
        request.instanceId,
        ctx.get_actions(),
        ctx._encoded_custom_status,
        getattr(ctx, "_version_name", None),
        ctx._encountered_patches,
    )


def replay(registry: Any, logger: logging.Logger, request: Any, past: list[Any]) -> Any:
    """The response the SDK's own executor gives for a turn replayed from scratch."""
    propagated = (
        PropagatedHistory.from_proto(request.propagatedHistory)
        if request.HasField("propagatedHistory")
        else None
    )
    result = _worker._OrchestrationExecutor(registry, logger).execute(
        request.instanceId, past, list(request.newEvents), propagated_history=propagated
    )
    return _response(
        request.instanceId,
        result.actions,
        result.encoded_custom_status,
        result.version_name,
        result.patches,
    )


def _response(
    instance_id: str,
    actions: list[Any],
    custom_status: str | None,
    version_name: str | None,
    patches: list[str] | None,
) -> Any:
    """A ``WorkflowResponse`` built as the SDK worker builds it."""
    version = None
    if version_name:
        version = pb.WorkflowVersion(name=version_name)
    if patches:
        version = version or pb.WorkflowVersion()
        version.patches.extend(patches)
    return pb.WorkflowResponse(
        instanceId=instance_id,
        actions=actions,
        customStatus=_helpers.get_string_value(custom_status),
        version=version,
    )


def failed_turn(request: Any, ex: Exception) -> Any:
    """The SDK worker's answer when executing a turn raised outside the executor."""
    action = _helpers.new_complete_workflow_action(
        -1, pb.FAILED, "", _helpers.new_failure_details(ex)
    )
    return pb.WorkflowResponse(instanceId=request.instanceId, actions=[action])


def ends_execution(response: Any) -> bool:
    return any(a.WhichOneof("workflowActionType") == "completeWorkflow" for a in response.actions)


# -- activities -------------------------------------------------------------------------------


class Activities:
    """Runs activity requests with the SDK's activity executor and builds their responses."""

    def __init__(self, registry: Any, logger: logging.Logger) -> None:
        self._registry = registry
        self._executor = _worker._ActivityExecutor(logger)

    def lookup(self, name: str) -> tuple[Any, bool]:
        """The registered function for an activity name, and whether it is async."""
        fn = self._registry.get_activity(name)
        return fn, fn is not None and is_async_callable(fn)

    def run(self, fn: Any, request: Any, token: str) -> Any:
        try:
            result = self._executor.execute(fn, *self._args(request))
        except Exception as ex:
            return self._failure(request, ex, token)
        return self._success(request, result, token)

    async def run_async(self, fn: Any, request: Any, token: str) -> Any:
        try:
            result = await self._executor.execute_async(fn, *self._args(request))
        except Exception as ex:
            return self._failure(request, ex, token)
        return self._success(request, result, token)

    @staticmethod
    def _args(request: Any) -> tuple[Any, ...]:
        propagated = (
            PropagatedHistory.from_proto(request.propagatedHistory)
            if request.HasField("propagatedHistory")
            else None
        )
        return (
            request.workflowInstance.instanceId,
            request.name,
            request.taskId,
            request.input.value,
            request.taskExecutionId,
            propagated,
        )

    @staticmethod
    def _success(request: Any, result: str | None, token: str) -> Any:
        return pb.ActivityResponse(
            instanceId=request.workflowInstance.instanceId,
            taskId=request.taskId,
            result=_helpers.get_string_value(result),
            completionToken=token,
        )

    @staticmethod
    def failure(response: Any, ex: Exception) -> Any:
        """A failure response in place of a result response."""
        return pb.ActivityResponse(
            instanceId=response.instanceId,
            taskId=response.taskId,
            failureDetails=_helpers.new_failure_details(ex),
            completionToken=response.completionToken,
        )

    @staticmethod
    def _failure(request: Any, ex: Exception, token: str) -> Any:
        return pb.ActivityResponse(
            instanceId=request.workflowInstance.instanceId,
            taskId=request.taskId,
            failureDetails=_helpers.new_failure_details(ex),
            completionToken=token,
        )


# -- the public SDK objects' private parts ----------------------------------------------------


def runtime_worker(runtime: Any) -> Any:
    """The ``TaskHubGrpcWorker`` a ``WorkflowRuntime`` registers into (it is never started)."""
    return runtime._WorkflowRuntime__worker


def install_stub(client: Any, stub: Any) -> None:
    """Point a sync ``DaprWorkflowClient`` at ``stub`` instead of its gRPC channel."""
    inner = client._DaprWorkflowClient__obj
    inner._channel.close()
    inner._stub = stub


def install(runtime: type, client: type, async_client: type) -> None:
    """Make the SDK's own names refer to the embedded classes, so unchanged app code that says
    ``dapr.ext.workflow.WorkflowRuntime()`` runs embedded (``python -m tether.embedded``)."""
    import dapr.ext.workflow as wf
    import dapr.ext.workflow.aio as wf_aio
    from dapr.ext.workflow import dapr_workflow_client, workflow_runtime
    from dapr.ext.workflow.aio import dapr_workflow_client as aio_client

    wf.WorkflowRuntime = workflow_runtime.WorkflowRuntime = runtime
    wf.DaprWorkflowClient = dapr_workflow_client.DaprWorkflowClient = client
    wf_aio.DaprWorkflowClient = aio_client.DaprWorkflowClient = async_client


def install_async_stub(client: Any, stub: Any) -> None:
    """Point an asyncio ``DaprWorkflowClient`` at ``stub`` (its channel is made lazily: never)."""
    inner = client._DaprWorkflowClient__obj
    inner._stub = stub
