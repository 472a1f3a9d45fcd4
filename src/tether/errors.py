"""One exception tree for tether.

Every error the engine raises derives from :class:`TetherError`. Each class knows the gRPC status
and the HTTP status it maps to, so the protocol and HTTP layers never guess.
"""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error tether raises on purpose."""

    grpc_code = "UNKNOWN"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(TetherError):
    grpc_code = "INVALID_ARGUMENT"
    http_status = 400


class NotFound(TetherError):
    grpc_code = "NOT_FOUND"
    http_status = 404


class AlreadyExists(TetherError):
    grpc_code = "ALREADY_EXISTS"
    http_status = 409


class FailedPrecondition(TetherError):
    """The instance is in a state that does not allow the operation (e.g. purge while running)."""

    grpc_code = "FAILED_PRECONDITION"
    http_status = 409


class Unimplemented(TetherError):
    grpc_code = "UNIMPLEMENTED"
    http_status = 501


class PayloadTooLarge(TetherError):
    grpc_code = "RESOURCE_EXHAUSTED"
    http_status = 413


class Unauthenticated(TetherError):
    grpc_code = "UNAUTHENTICATED"
    http_status = 401


class Unavailable(TetherError):
    """The engine is shutting down or the store cannot be reached."""

    grpc_code = "UNAVAILABLE"
    http_status = 503


class StoreError(TetherError):
    """A storage backend failed; the original driver error is the ``__cause__``."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or is busy (a lock held past the busy timeout, an I/O
    error); the same write may succeed if tried again later."""

    grpc_code = "UNAVAILABLE"
    http_status = 503


class StoreUnreachable(StoreUnavailable):
    """No connection to the store could be made within the store's own wait (the database is
    down or out of reach). Not retried in-process: each attempt already waited for a
    connection, so retrying would only hold the caller longer before the same answer."""


class StoreFull(StoreError):
    """The store's disk (or file system quota) is full: nothing more can be written until space
    is freed; reads keep working and writes resume by themselves."""

    grpc_code = "RESOURCE_EXHAUSTED"
    http_status = 507


class Conflict(StoreError):
    """A write contradicts stored data (a key already taken, a constraint violated)."""

    grpc_code = "ABORTED"
    http_status = 409


class LeaseLost(StoreError):
    """A write was fenced out: the writer no longer holds the lease (owner, epoch) of what it
    wrote, so nothing was written. The writer must forget that instance (or all its work, for a
    lost node lease) and may act on it again only after claiming it anew."""

    grpc_code = "UNAVAILABLE"
    http_status = 503


class ConfigError(TetherError):
    """A setting has a bad value; the message names the key."""

    grpc_code = "INVALID_ARGUMENT"
    http_status = 400
