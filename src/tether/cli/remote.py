"""The CLI's HTTP client for a running tether: tether's ``/tether/v1`` routes, with its API token.

Every change a command makes while a tether runs goes through that tether's engine (over this
client or gRPC), so the tether sees it at once; it never edits the store behind its back.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tether.cli.output import CliError
from tether.registry import RunningSidecar

TOKEN_HEADER = "dapr-api-token"
PREFIX = "/tether/v1"


class HttpError(CliError):
    """A tether's error answer: its message, and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def require_token(entry: RunningSidecar, token: str | None) -> None:
    """A tether that requires an API token is not asked without one."""
    if entry.api_token_set and not token:
        raise CliError(
            f"the tether for app ID {entry.app_id!r} requires its API token: pass --api-token "
            "or set DAPR_API_TOKEN"
        )


def dial_host(address: str) -> str:
    if address in ("", "0.0.0.0"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    return f"[{address}]" if ":" in address else address


class TetherHttp:
    def __init__(self, entry: RunningSidecar, token: str | None, timeout: float = 60.0) -> None:
        require_token(entry, token)
        self.entry = entry
        self.app_id = entry.app_id
        self.base = f"http://{dial_host(entry.listen_address)}:{entry.http_port}"
        self.token = token
        self.timeout = timeout

    def get(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        return self._call("GET", path, params, None)

    def post(self, path: str, body: Any, params: list[tuple[str, str]] | None = None) -> Any:
        return self._call("POST", path, params, body)

    def _call(
        self, method: str, path: str, params: list[tuple[str, str]] | None, body: Any
    ) -> Any:
        url = self.base + PREFIX + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("content-type", "application/json")
        if self.token:
            request.add_header(TOKEN_HEADER, self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(
                f"cannot reach tether for app ID {self.app_id!r} at {self.base}: {reason}"
            ) from None
        return json.loads(text) if text else None

    def _error(self, exc: urllib.error.HTTPError) -> HttpError:
        try:
            message = str(json.loads(exc.read().decode("utf-8")).get("message", ""))
        except (ValueError, AttributeError, OSError):
            message = ""
        if exc.code == 401:
            reason = message or "no valid API token"
            return HttpError(
                f"the tether for app ID {self.app_id!r} refused the request ({reason}); "
                "pass --api-token or set DAPR_API_TOKEN",
                exc.code,
            )
        return HttpError(message or f"tether answered HTTP {exc.code}", exc.code)


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
