"""sqlite3's errors turned into the store contract's, at the backend's edge (cause kept)."""

from __future__ import annotations

import sqlite3

from tether.errors import Conflict, StoreError, StoreFull, StoreUnavailable

_UNAVAILABLE = {
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
}
_FULL = {"SQLITE_FULL"}


def translate(exc: sqlite3.Error, doing: str) -> StoreError:
    """The contract's error for a driver error; raise it ``from exc``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    message = f"{doing}: {exc}"
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(message)
    if base in _FULL or "database or disk is full" in str(exc):
        return StoreFull(message + " (free some disk space; the write is retried)")
    if base in _UNAVAILABLE or "database is locked" in str(exc):
        return StoreUnavailable(message)
    return StoreError(message)
