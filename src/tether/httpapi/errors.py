"""HTTP error responses: Dapr's ``{"errorCode": …, "message": …}`` body and its status codes.

Handlers raise :class:`ApiError`; the app turns it into a JSON response. Engine errors are
translated here, per operation, following the Dapr workflow HTTP API's table (engine-semantics
§6.3) for the Dapr routes and the error's own HTTP status for tether's routes.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from tether.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    StoreFull,
    TetherError,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

# Dapr's codes (names as daprd sends them).
INSTANCE_ID_NOT_FOUND = "ERR_INSTANCE_ID_NOT_FOUND"
INSTANCE_ID_INVALID = "ERR_INSTANCE_ID_INVALID"
INSTANCE_ID_TOO_LONG = "ERR_INSTANCE_ID_TOO_LONG"
INSTANCE_ID_MISSING = "ERR_INSTANCE_ID_PROVIDED_MISSING"
WORKFLOW_NAME_MISSING = "ERR_WORKFLOW_NAME_MISSING"
EVENT_NAME_MISSING = "ERR_WORKFLOW_EVENT_NAME_MISSING"
START_WORKFLOW = "ERR_START_WORKFLOW"
GET_WORKFLOW = "ERR_GET_WORKFLOW"
TERMINATE_WORKFLOW = "ERR_TERMINATE_WORKFLOW"
RAISE_EVENT_WORKFLOW = "ERR_RAISE_EVENT_WORKFLOW"
PAUSE_WORKFLOW = "ERR_PAUSE_WORKFLOW"
RESUME_WORKFLOW = "ERR_RESUME_WORKFLOW"
PURGE_WORKFLOW = "ERR_PURGE_WORKFLOW"
APP_ID_INVALID = "ERR_WORKFLOW_APP_ID_INVALID"
BODY_READ = "ERR_BODY_READ"
# tether's own (no Dapr equivalent, or on tether's routes).
PAYLOAD_TOO_LARGE = "ERR_PAYLOAD_TOO_LARGE"
UNAUTHENTICATED = "ERR_UNAUTHENTICATED"
NOT_FOUND_ROUTE = "ERR_NOT_FOUND"
METHOD_NOT_ALLOWED = "ERR_METHOD_NOT_ALLOWED"
INVALID_ARGUMENT = "ERR_INVALID_ARGUMENT"
ALREADY_EXISTS = "ERR_ALREADY_EXISTS"
FAILED_PRECONDITION = "ERR_FAILED_PRECONDITION"
UNAVAILABLE = "ERR_UNAVAILABLE"
INTERNAL = "ERR_INTERNAL"
STORE_FULL = "ERR_STORE_FULL"

# The codes a Dapr route may answer with status 500: a valid request whose operation failed.
DAPR_OPERATION_CODES = frozenset(
    {
        START_WORKFLOW,
        GET_WORKFLOW,
        TERMINATE_WORKFLOW,
        RAISE_EVENT_WORKFLOW,
        PAUSE_WORKFLOW,
        RESUME_WORKFLOW,
        PURGE_WORKFLOW,
    }
)


class ApiError(Exception):
    """An HTTP error answer: status, Dapr-style error code and a message for humans."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def operation_failed(code: str, prefix: str, exc: BaseException) -> ApiError:
    """A Dapr-route failure (status 500, the operation's code, ``<prefix>: <cause>``); the
    error's own status when it names one a client acts on (507 disk full, 503 when the cause is
    passing: the store unreachable, tether shutting down)."""
    if isinstance(exc, StoreFull):
        return ApiError(exc.http_status, code, f"{prefix}: {exc.message}")
    status = 500
    if isinstance(exc, TetherError):
        cause = exc.message
        if exc.http_status == 503:
            status = 503
    else:
        log.error("%s", prefix, exc_info=exc)
        cause = f"internal error ({type(exc).__name__}: {exc})"
    return ApiError(status, code, f"{prefix}: {cause}")


def not_found(instance_id: str) -> ApiError:
    return ApiError(
        404,
        INSTANCE_ID_NOT_FOUND,
        f"unable to find workflow with the provided instance ID: {instance_id}",
    )


_ERROR_CODES: dict[type[TetherError], str] = {
    NotFound: NOT_FOUND_ROUTE,
    AlreadyExists: ALREADY_EXISTS,
    FailedPrecondition: FAILED_PRECONDITION,
    InvalidArgument: INVALID_ARGUMENT,
    PayloadTooLarge: PAYLOAD_TOO_LARGE,
    Unauthenticated: UNAUTHENTICATED,
    Unavailable: UNAVAILABLE,
    StoreFull: STORE_FULL,
}


def from_engine(exc: BaseException) -> ApiError:
    """Map an engine error on one of tether's own routes: its class carries the HTTP status."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TetherError):
        code = next((_ERROR_CODES[c] for c in type(exc).__mro__ if c in _ERROR_CODES), INTERNAL)
        return ApiError(exc.http_status, code, exc.message)
    log.error("unexpected error in an HTTP handler", exc_info=exc)
    return ApiError(500, INTERNAL, f"internal error ({type(exc).__name__}: {exc})")
