"""An ASGI middleware in front of every route: the API-token check and the body-size limit.

* With an API token configured, a request whose ``dapr-api-token`` header is missing or wrong is
  answered 401 — except the health endpoints, which orchestrators probe without credentials.
* A body larger than ``max_payload_bytes`` is answered 413: at once when ``Content-Length`` says
  so, otherwise as soon as the streamed body passes the limit (the handler never sees it).
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.httpapi import errors
from tether.httpapi.errors import ApiError

TOKEN_HEADER = b"dapr-api-token"
_HEALTH = re.compile(r"^/v1\.0(-beta1|-alpha1)?/healthz(/outbound)?/?$")


def is_health_path(path: str) -> bool:
    return bool(_HEALTH.match(path))


def too_large(limit: int, size: int | None = None) -> ApiError:
    told = f" ({size} bytes)" if size is not None else ""
    return ApiError(
        413,
        errors.PAYLOAD_TOO_LARGE,
        f"the request body{told} exceeds this sidecar's limit of {limit} bytes "
        "(raise it with --max-payload)",
    )


class Guard:
    def __init__(self, app: ASGIApp, *, api_token: str | None, max_body: int) -> None:
        self.app = app
        self.token = api_token.encode() if api_token else None
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if self.token is not None and not is_health_path(scope["path"]):
            given = next((v for k, v in headers if k.lower() == TOKEN_HEADER), None)
            if given is None or not hmac.compare_digest(given, self.token):
                reason = "missing" if given is None else "wrong"
                await self._reply(
                    scope,
                    receive,
                    send,
                    ApiError(
                        401,
                        errors.UNAUTHENTICATED,
                        f"{reason} dapr-api-token header: this sidecar requires its API token "
                        "in the dapr-api-token header (the SDKs send DAPR_API_TOKEN)",
                    ),
                )
                return
        length = next((v for k, v in headers if k.lower() == b"content-length"), None)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._reply(
                    scope,
                    receive,
                    send,
                    ApiError(400, errors.BODY_READ, "the Content-Length header is not a number"),
                )
                return
            if declared > self.max_body:
                await self._reply(scope, receive, send, too_large(self.max_body, declared))
                return
        await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit)
            return message

        return limited

    async def _reply(self, scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
        response: Any = error.response()
        if error.status == 413:
            # The client may still be sending; tell it not to reuse the connection.
            response.headers["connection"] = "close"
        await response(scope, receive, send)
