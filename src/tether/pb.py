"""The one import of the official protocol stubs.

tether speaks the durabletask ``TaskHubSidecarService`` protocol using the generated ``*_pb2``
modules shipped in the official ``dapr`` package. Every other module imports message classes
from here, so a change of SDK layout touches one file.
"""

from __future__ import annotations

from typing import Any

from dapr.ext.workflow._durabletask.internal import protos as _protos
from dapr.proto.runtime.v1 import dapr_pb2 as _dapr_pb2
from dapr.proto.runtime.v1 import metadata_pb2 as _metadata_pb2
from dapr.proto.runtime.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf import empty_pb2, timestamp_pb2, wrappers_pb2

# The generated classes are dynamic; re-exported as Any-typed names for mypy.
_p: Any = _protos

Empty: Any = empty_pb2.Empty
Timestamp: Any = timestamp_pb2.Timestamp
StringValue: Any = wrappers_pb2.StringValue

HistoryEvent: Any = _p.HistoryEvent
ExecutionStartedEvent: Any = _p.ExecutionStartedEvent
ExecutionCompletedEvent: Any = _p.ExecutionCompletedEvent
ExecutionTerminatedEvent: Any = _p.ExecutionTerminatedEvent
ExecutionSuspendedEvent: Any = _p.ExecutionSuspendedEvent
ExecutionResumedEvent: Any = _p.ExecutionResumedEvent
ExecutionStalledEvent: Any = _p.ExecutionStalledEvent
TaskScheduledEvent: Any = _p.TaskScheduledEvent
TaskCompletedEvent: Any = _p.TaskCompletedEvent
TaskFailedEvent: Any = _p.TaskFailedEvent
ChildWorkflowInstanceCreatedEvent: Any = _p.ChildWorkflowInstanceCreatedEvent
ChildWorkflowInstanceCompletedEvent: Any = _p.ChildWorkflowInstanceCompletedEvent
ChildWorkflowInstanceFailedEvent: Any = _p.ChildWorkflowInstanceFailedEvent
DetachedWorkflowInstanceCreatedEvent: Any = _p.DetachedWorkflowInstanceCreatedEvent
TimerCreatedEvent: Any = _p.TimerCreatedEvent
TimerFiredEvent: Any = _p.TimerFiredEvent
WorkflowStartedEvent: Any = _p.WorkflowStartedEvent
EventRaisedEvent: Any = _p.EventRaisedEvent

WorkflowInstance: Any = _p.WorkflowInstance
PropagatedHistory: Any = _p.PropagatedHistory
PropagatedHistoryChunk: Any = _p.PropagatedHistoryChunk
ParentInstanceInfo: Any = _p.ParentInstanceInfo
RerunParentInstanceInfo: Any = _p.RerunParentInstanceInfo
TaskFailureDetails: Any = _p.TaskFailureDetails
TaskRouter: Any = _p.TaskRouter
TraceContext: Any = _p.TraceContext
WorkflowState: Any = _p.WorkflowState
WorkflowVersion: Any = _p.WorkflowVersion

WorkflowAction: Any = _p.WorkflowAction
WorkflowRequest: Any = _p.WorkflowRequest
WorkflowResponse: Any = _p.WorkflowResponse
ActivityRequest: Any = _p.ActivityRequest
ActivityResponse: Any = _p.ActivityResponse
CachedHistory: Any = _p.CachedHistory
WorkItem: Any = _p.WorkItem
HealthPing: Any = _p.HealthPing
GetWorkItemsRequest: Any = _p.GetWorkItemsRequest
CompleteTaskResponse: Any = _p.CompleteTaskResponse
CreateInstanceRequest: Any = _p.CreateInstanceRequest
CreateInstanceResponse: Any = _p.CreateInstanceResponse
GetInstanceRequest: Any = _p.GetInstanceRequest
GetInstanceResponse: Any = _p.GetInstanceResponse
RaiseEventRequest: Any = _p.RaiseEventRequest
RaiseEventResponse: Any = _p.RaiseEventResponse
TerminateRequest: Any = _p.TerminateRequest
TerminateResponse: Any = _p.TerminateResponse
SuspendRequest: Any = _p.SuspendRequest
SuspendResponse: Any = _p.SuspendResponse
ResumeRequest: Any = _p.ResumeRequest
ResumeResponse: Any = _p.ResumeResponse
PurgeInstancesRequest: Any = _p.PurgeInstancesRequest
PurgeInstancesResponse: Any = _p.PurgeInstancesResponse
RerunWorkflowFromEventRequest: Any = _p.RerunWorkflowFromEventRequest
RerunWorkflowFromEventResponse: Any = _p.RerunWorkflowFromEventResponse
ListInstanceIDsRequest: Any = _p.ListInstanceIDsRequest
ListInstanceIDsResponse: Any = _p.ListInstanceIDsResponse
GetInstanceHistoryRequest: Any = _p.GetInstanceHistoryRequest
GetInstanceHistoryResponse: Any = _p.GetInstanceHistoryResponse

# The Dapr runtime API (``dapr.proto.runtime.v1.Dapr``): its workflow calls and GetMetadata.
_rt: Any = _workflow_pb2
_md: Any = _metadata_pb2
DAPR_SERVICE: Any = _dapr_pb2.DESCRIPTOR.services_by_name["Dapr"]
StartWorkflowRequest: Any = _rt.StartWorkflowRequest
StartWorkflowResponse: Any = _rt.StartWorkflowResponse
GetWorkflowRequest: Any = _rt.GetWorkflowRequest
GetWorkflowResponse: Any = _rt.GetWorkflowResponse
TerminateWorkflowRequest: Any = _rt.TerminateWorkflowRequest
RaiseEventWorkflowRequest: Any = _rt.RaiseEventWorkflowRequest
PauseWorkflowRequest: Any = _rt.PauseWorkflowRequest
ResumeWorkflowRequest: Any = _rt.ResumeWorkflowRequest
PurgeWorkflowRequest: Any = _rt.PurgeWorkflowRequest
GetMetadataRequest: Any = _md.GetMetadataRequest
GetMetadataResponse: Any = _md.GetMetadataResponse
RegisteredComponents: Any = _md.RegisteredComponents

# OrchestrationStatus values (the enum keeps the ORCHESTRATION_STATUS_* names on the wire).
RUNNING = 0
COMPLETED = 1
CONTINUED_AS_NEW = 2
FAILED = 3
CANCELED = 4
TERMINATED = 5
PENDING = 6
SUSPENDED = 7
STALLED = 8

STATUS_NAMES = {
    RUNNING: "RUNNING",
    COMPLETED: "COMPLETED",
    CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
    FAILED: "FAILED",
    CANCELED: "CANCELED",
    TERMINATED: "TERMINATED",
    PENDING: "PENDING",
    SUSPENDED: "SUSPENDED",
    STALLED: "STALLED",
}
STATUS_BY_NAME = {v: k for k, v in STATUS_NAMES.items()}
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, TERMINATED, CANCELED})

# StalledReason
PATCH_MISMATCH = 0
VERSION_NOT_AVAILABLE = 1
PAYLOAD_SIZE_EXCEEDED = 2

# HistoryPropagationScope
PROPAGATE_NONE = 0
PROPAGATE_OWN_HISTORY = 1
PROPAGATE_LINEAGE = 2

# WorkerCapability
CAPABILITY_STATEFUL_HISTORY = 2
CAPABILITY_HEALTH_PING = 3

# The indefinite-wait sentinel the SDK uses for wait_for_external_event without timeout.
SENTINEL_SECONDS = 253402300799
