"""Driver errors translated to tether's store errors at the backend's edge (cause kept)."""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerr
from psycopg_pool import PoolTimeout

from tether.errors import Conflict, StoreError, StoreFull, StoreUnavailable, StoreUnreachable


class CommitOutcomeUnknown(StoreError):
    """The connection was lost during ``COMMIT``: the write may or may not be stored. Not a
    ``StoreUnavailable`` (whose writes are known not to have happened, so the engine retries
    them): the caller must read the store to learn the outcome. Clients see it as passing."""

    grpc_code = "UNAVAILABLE"
    http_status = 503


# SQLSTATE classes: 08 connection exception, 57 operator intervention (shutdown, cancel),
# 53 insufficient resources, 40 transaction rollback (deadlock, serialization), 23 constraints.
_UNAVAILABLE_CLASSES = ("08", "57", "40")


def translate(exc: BaseException, where: str, doing: str) -> StoreError:
    """The store error for a driver error raised while ``doing`` on the store ``where``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, PoolTimeout):
        return StoreUnreachable(
            f"the PostgreSQL store {where} is unreachable ({doing}: no connection could be made "
            "in time); check that the database is running and reachable, then retry"
        )
    state = getattr(exc, "sqlstate", None) or ""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, pgerr.DiskFull) or state in ("53100", "54000"):
        return StoreFull(f"the PostgreSQL store {where} is full ({doing}): {detail}")
    if isinstance(exc, pgerr.IntegrityError) or state.startswith("23"):
        return Conflict(f"{doing} conflicts with stored data in {where}: {detail}")
    if (
        state[:2] in _UNAVAILABLE_CLASSES
        or state.startswith("53")
        or (isinstance(exc, psycopg.OperationalError) and not state)
    ):
        return StoreUnavailable(
            f"the PostgreSQL store {where} is unreachable or unavailable ({doing}): {detail}; "
            "retry once the database is back"
        )
    return StoreError(f"{doing} on the PostgreSQL store {where} failed: {detail}")
