"""``WorkflowRuntime`` for embedded mode: the SDK's registration, tether's engine in-process."""

from __future__ import annotations

from typing import Any

from tether.embedded import _sdk, node
from tether.embedded.worker import InProcessWorker

# The SDK's history cache defaults (used when the runtime sets no bound).
_CACHE_MAX_INSTANCES = 100_000
_CACHE_TTL_SECONDS = 3600.0


class WorkflowRuntime(_sdk.SdkWorkflowRuntime):  # type: ignore[misc]
    """``dapr.ext.workflow.WorkflowRuntime`` whose workflows run on an embedded tether node.

    Takes every argument of the SDK's runtime (``host``/``port`` are accepted and ignored:
    there is no sidecar), plus:

    * ``app_id``: the app this node serves (default ``$APP_ID``, else ``tether``);
    * ``store``: the store URL or SQLite path (default ``$TETHER_STORE``, else the per-user
      store ``tether serve`` uses);
    * ``serve``: also serve the Dapr gRPC and HTTP ports (``grpc_port``/``http_port``, 0 picks
      free ones), so other SDKs, curl and ``tether workflow --app-id`` reach this node;
    * ``sticky``: keep each workflow's generator alive between turns (default on);
    * ``verify_sticky``: replay every sticky turn from scratch too and compare (for tests;
      default ``$TETHER_STICKY_VERIFY``).
    """

    def __init__(
        self,
        host: str | None = None,
        port: str | None = None,
        *,
        app_id: str | None = None,
        store: str | None = None,
        serve: bool = False,
        grpc_port: int = 0,
        http_port: int = 0,
        sticky: bool = True,
        verify_sticky: bool | None = None,
        **sdk_options: Any,
    ) -> None:
        super().__init__(host="127.0.0.1", port="1", **sdk_options)
        self._tether_node_options: dict[str, Any] = {
            "app_id": app_id,
            "store": store,
            "serve": serve,
            "grpc_port": grpc_port,
            "http_port": http_port,
        }
        self._tether_sticky = sticky
        if verify_sticky is None:
            verify_sticky = node.truthy("TETHER_STICKY_VERIFY")
        self._tether_verify = verify_sticky
        self._tether_node: node.EmbeddedNode | None = None
        self._tether_worker: InProcessWorker | None = None
        self._tether_mismatches: list[str] = []

    @property
    def node(self) -> node.EmbeddedNode:
        """The embedded tether node this runtime runs on (after :meth:`start`)."""
        if self._tether_node is None:
            raise RuntimeError("the workflow runtime is not started")
        return self._tether_node

    def start(self) -> None:
        if self._tether_node is not None:
            return
        embedded = node.acquire(**self._tether_node_options)
        try:
            options = _sdk.worker_options(
                _sdk.runtime_worker(self), _CACHE_MAX_INSTANCES, _CACHE_TTL_SECONDS
            )
            worker = embedded.attach(options, self._tether_sticky, self._tether_verify)
        except BaseException:
            node.release(embedded)
            raise
        worker.mismatches = self._tether_mismatches
        self._tether_worker = worker
        self._tether_node = embedded

    def wait_for_worker_ready(self, timeout: float = 30.0) -> bool:
        return self._tether_worker is not None

    def shutdown(self) -> None:
        embedded, worker = self._tether_node, self._tether_worker
        self._tether_node = self._tether_worker = None
        if embedded is None:
            return
        try:
            if worker is not None:
                embedded.detach(worker)
        finally:
            node.release(embedded)


def sticky_mismatches(runtime: WorkflowRuntime) -> list[str]:
    """Sticky turns whose response differed from a full replay (with ``verify_sticky``)."""
    return list(runtime._tether_mismatches)


__all__ = ["WorkflowRuntime", "sticky_mismatches"]
