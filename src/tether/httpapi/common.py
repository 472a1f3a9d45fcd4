"""Small helpers shared by the HTTP routes: request bodies, IDs, path segments and timestamps."""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from tether.httpapi import errors
from tether.httpapi.errors import ApiError

MAX_INSTANCE_ID_LENGTH = 64
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
ZERO_TIME = "0001-01-01T00:00:00Z"
_NANOS = 1_000_000_000
_MAX_NS = 2**63 - 1


# -- bodies ------------------------------------------------------------------------------------
async def read_body(request: Request) -> bytes:
    """The whole request body; the size limit is enforced by the guard middleware."""
    try:
        return await request.body()
    except ApiError:
        raise
    except Exception as exc:  # a client that hangs up mid-body, a broken transfer encoding
        raise ApiError(400, errors.BODY_READ, f"failed to read the request body: {exc}") from exc


async def read_text(request: Request) -> str:
    """The body as text, verbatim (UTF-8); bytes that are not UTF-8 are refused."""
    raw = await read_body(request)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            errors.BODY_READ,
            f"the request body is not valid UTF-8 text (byte {exc.start}); "
            "send the payload as UTF-8 JSON",
        ) from None


async def read_json_object(request: Request) -> dict[str, Any]:
    """A JSON object body; an empty body counts as ``{}``."""
    text = await read_text(request)
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ApiError(
            400, errors.BODY_READ, f"the request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise ApiError(400, errors.BODY_READ, "the request body must be a JSON object")
    return value


# -- identifiers -------------------------------------------------------------------------------
def instance_id_problem(instance_id: str) -> ApiError | None:
    """Dapr's start-time ID rule: letters, digits, ``-`` and ``_``, at most 64 characters."""
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return ApiError(
            400,
            errors.INSTANCE_ID_TOO_LONG,
            f"workflow instance ID exceeds the max length of {MAX_INSTANCE_ID_LENGTH} characters",
        )
    if not all(c.isalnum() or c in "-_" for c in instance_id):
        return ApiError(
            400,
            errors.INSTANCE_ID_INVALID,
            f"workflow instance ID '{instance_id}' is invalid: only alphanumeric and underscore "
            "characters are allowed",
        )
    return None


def check_instance_id(instance_id: str) -> None:
    problem = instance_id_problem(instance_id)
    if problem is not None:
        raise problem


def app_id_param(request: Request, own_app: str) -> str | None:
    """The optional ``appID`` query parameter; None when absent or naming this sidecar's app."""
    if "appID" not in request.query_params:
        return None
    app_id = request.query_params["appID"]
    if not _APP_ID.match(app_id):
        raise ApiError(
            400,
            errors.APP_ID_INVALID,
            f"invalid appID {app_id!r}: an app ID is 1-253 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return None if app_id == own_app else app_id


def path_segments(request: Request, prefix_segments: int) -> list[str]:
    """The request path's segments after the first ``prefix_segments``, each percent-decoded.

    Splitting the raw path keeps an encoded ``/`` (``%2F``) inside one segment."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    raw_text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    raw_text = raw_text.split("?", 1)[0]
    parts = raw_text.split("/")[1:]
    return [urllib.parse.unquote(p, errors="replace") for p in parts[prefix_segments:]]


# -- time --------------------------------------------------------------------------------------
def rfc3339(ns: int | None) -> str:
    """RFC 3339 UTC with 0, 3, 6 or 9 fractional digits (protojson style); 0 is Go's zero time."""
    if not ns:
        return ZERO_TIME
    seconds, nanos = divmod(ns, _NANOS)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"


def parse_time(name: str, value: str) -> int:
    """An RFC 3339 timestamp (naive means UTC) as ns since the epoch; 400 when malformed."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(
            400,
            errors.INVALID_ARGUMENT,
            f"{name}: {value!r} is not an RFC 3339 timestamp (e.g. 2025-01-15T10:30:00Z)",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = parsed - epoch
    ns = (delta.days * 86400 + delta.seconds) * _NANOS + delta.microseconds * 1000
    # Stored times are signed 64-bit ns: clamp so far-off bounds still compare correctly.
    return max(-_MAX_NS, min(_MAX_NS, ns))
