"""The asyncio ``DaprWorkflowClient`` for embedded mode (drop-in for ``dapr.ext.workflow.aio``)."""

from __future__ import annotations

from typing import Any

from tether.embedded import _sdk, node
from tether.embedded.stub import AsyncInProcessStub


class DaprWorkflowClient(_sdk.SdkAsyncDaprWorkflowClient):  # type: ignore[misc]
    """``dapr.ext.workflow.aio.DaprWorkflowClient`` on the embedded node of this process.

    Its calls are awaited on the caller's event loop while the engine runs on its own thread.
    ``app_id``/``store`` as for :class:`tether.embedded.WorkflowRuntime`; :meth:`close`
    (awaitable, like the SDK's) lets go of the node.
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
        _sdk.install_async_stub(self, AsyncInProcessStub(self._tether_node))

    async def close(self) -> None:
        embedded, self._tether_node = self._tether_node, None
        if embedded is not None:
            node.release(embedded)


__all__ = ["DaprWorkflowClient"]
