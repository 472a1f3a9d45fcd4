"""sqlite3's (and the file system's) errors turned into the store contract's, at the backend's
edge; callers raise the result ``from`` the original, so the cause is kept."""

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
_FULL_MESSAGE = "the store's disk is full"


def is_full(exc: BaseException) -> bool:
    """A full disk or quota, whichever layer noticed it."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    if isinstance(exc, OSError) and exc.errno in (28, 122):  # ENOSPC, EDQUOT
        return True
    return "database or disk is full" in str(exc)


def translate(exc: BaseException, doing: str) -> StoreError:
    """The contract's error for a driver or file-system error met while ``doing`` something."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    message = f"{doing}: {exc}"
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(message)
    if is_full(exc):
        return StoreFull(
            f"{_FULL_MESSAGE} ({doing}); free some space: writes resume by themselves, "
            "reads keep working"
        )
    if base in _UNAVAILABLE or "database is locked" in str(exc):
        return StoreUnavailable(message)
    return StoreError(message)
