"""``DaprWorkflowClient`` for embedded mode: every call runs the sidecar's servicer in-process."""

from __future__ import annotations

from typing import Any

from tether.embedded import _sdk, node
from tether.embedded.stub import InProcessStub


class DaprWorkflowClient(_sdk.SdkDaprWorkflowClient):  # type: ignore[misc]
    """``dapr.ext.workflow.DaprWorkflowClient`` on the embedded node of this process.

    ``host``/``port`` are accepted and ignored; ``app_id`` and ``store`` choose the node as for
    :class:`tether.embedded.WorkflowRuntime` (the defaults match, so a runtime and a client
    made with no arguments share one node). :meth:`close` lets go of the node.
    """

    def __init__(
        self,
        host: str | None = None,
        port: str | None = None,
        logger_options: Any = None,
        max_grpc_message_length: int | None = None,
        *,
        app_id: str | None = None,
        store: str | None = None,
    ) -> None:
        super().__init__(host="127.0.0.1", port="1", logger_options=logger_options)
        self._tether_node: node.EmbeddedNode | None = node.acquire(app_id, store)
        _sdk.install_stub(self, InProcessStub(self._tether_node))

    def close(self) -> None:
        embedded, self._tether_node = self._tether_node, None
        if embedded is not None:
            node.release(embedded)

    def __enter__(self) -> DaprWorkflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
