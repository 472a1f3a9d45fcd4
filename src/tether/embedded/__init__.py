"""Embedded mode: the official Dapr workflow SDK with the tether engine inside the app's process.

Change one import and the same registered workflows and activities run with no sidecar and no
ports, on the same store and with the same durability as ``tether serve``::

    from tether.embedded import WorkflowRuntime, DaprWorkflowClient   # was: dapr.ext.workflow

Everything else ``dapr.ext.workflow`` exports is re-exported unchanged, so
``import tether.embedded as wf`` works as a drop-in too. The asyncio client is
``tether.embedded.aio.DaprWorkflowClient``.
"""

from dapr.ext.workflow import (
    UNSET,
    ActivityResult,
    ChildWorkflowResult,
    DaprWorkflowContext,
    FailureDetails,
    PropagatedHistory,
    PropagationNotFoundError,
    PropagationScope,
    RetryPolicy,
    TaskFailedError,
    WorkflowActivityContext,
    WorkflowHistoryEvent,
    WorkflowHistoryEventType,
    WorkflowInstanceIdPage,
    WorkflowResult,
    WorkflowState,
    WorkflowStatus,
    alternate_name,
    when_all,
    when_any,
)

from tether.embedded.client import DaprWorkflowClient
from tether.embedded.runtime import WorkflowRuntime, sticky_mismatches

__all__ = [
    "UNSET",
    "ActivityResult",
    "ChildWorkflowResult",
    "DaprWorkflowClient",
    "DaprWorkflowContext",
    "FailureDetails",
    "PropagatedHistory",
    "PropagationNotFoundError",
    "PropagationScope",
    "RetryPolicy",
    "TaskFailedError",
    "WorkflowActivityContext",
    "WorkflowHistoryEvent",
    "WorkflowHistoryEventType",
    "WorkflowInstanceIdPage",
    "WorkflowResult",
    "WorkflowRuntime",
    "WorkflowState",
    "WorkflowStatus",
    "alternate_name",
    "sticky_mismatches",
    "when_all",
    "when_any",
]
