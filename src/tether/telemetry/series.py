"""The recorded series: Dapr's workflow metrics (same names, labels, units) and tether's own."""

from __future__ import annotations

from tether.telemetry.metrics import Counter, Histogram, Metric

# Dapr's default latency distribution (milliseconds) and a longer one for whole executions.
LATENCY_MS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200,
              250, 300, 400, 500, 650, 800, 1000, 2000, 5000, 10000, 20000, 50000,
              100000)  # fmt: skip
EXECUTION_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                600000, 1800000, 3600000, 21600000, 86400000)  # fmt: skip
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

_DAPR = "dapr_runtime_workflow_"
_WF = ("app_id", "namespace", "workflow_name")
_ACT = ("app_id", "namespace", "activity_name", "status")
_OP = ("app_id", "namespace", "operation", "status")
_APP = ("app_id",)


class Series:
    def __init__(self) -> None:
        c, h = Counter, Histogram
        self.operation_count = c(f"{_DAPR}operation_count",
                                 "The number of successful/failed workflow operation requests.",
                                 _OP)  # fmt: skip
        self.operation_latency = h(f"{_DAPR}operation_latency",
                                   "The latencies of responses for workflow operation requests "
                                   "(ms).", _OP, buckets=LATENCY_MS)  # fmt: skip
        self.execution_count = c(f"{_DAPR}execution_count",
                                 "The number of successful/failed/terminated workflow executions.",
                                 (*_WF, "status"))  # fmt: skip
        self.execution_latency = h(f"{_DAPR}execution_latency",
                                   "The total time taken to run workflow to completion (ms).",
                                   (*_WF, "status"), buckets=EXECUTION_MS)  # fmt: skip
        self.scheduling_latency = h(f"{_DAPR}scheduling_latency",
                                    "Interval between workflow execution request and workflow "
                                    "execution (ms).", _WF, buckets=LATENCY_MS)  # fmt: skip
        self.activity_operation_count = c(f"{_DAPR}activity_operation_count",
                                          "The number of successful/failed activity operation "
                                          "requests.", _ACT)  # fmt: skip
        self.activity_execution_count = c(f"{_DAPR}activity_execution_count",
                                          "The number of successful/failed activity executions.",
                                          _ACT)  # fmt: skip
        self.activity_execution_latency = h(f"{_DAPR}activity_execution_latency",
                                            "The total time taken to run an activity to "
                                            "completion (ms).", _ACT,
                                            buckets=EXECUTION_MS)  # fmt: skip
        self.turn_latency = h("tether_turn_latency_seconds",
                              "From a workflow turn's start to its commit (worker time and "
                              "commit).", _APP, buckets=SECONDS)  # fmt: skip
        self.commit_latency = h("tether_store_commit_latency_seconds",
                                "Time of one store group commit (all writers in it, and the "
                                "fsync).", _APP, buckets=SECONDS)  # fmt: skip
        self.commit_size = h("tether_store_commit_batch_size",
                             "Writers sharing one store group commit.", _APP,
                             buckets=BATCH)  # fmt: skip
        self.claims = c("tether_instance_claims_total",
                        "Instances this node claimed from the store: created by another process "
                        "for this app, or left by a node whose lease lapsed.", _APP)  # fmt: skip
        self.takeovers = c("tether_lease_takeovers_total",
                           "Claimed instances whose lease belonged to another node (one whose "
                           "lease lapsed: stopped, killed or cut off).", _APP)  # fmt: skip
        self.state_changes = c("tether_instance_state_changes_total",
                               "Instance status changes committed by this node.",
                               ("app_id", "status"))  # fmt: skip

    @property
    def metrics(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]
