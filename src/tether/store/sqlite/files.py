"""The SQLite store's files: who may read them, whether a file is a tether store, whether it is
still the file that was opened, and how much room its disk has.

The store holds every workflow payload, so its folder is created 0700 and the database, its
write-ahead log and shared-memory file are 0600 (SQLite gives the log and shm files the
database's mode). A file that is deleted or replaced while tether runs would take every later
write with it on restart (the open descriptor still points at the unlinked file), so the writer
compares the path's identity with the open file's before each commit.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path


def private_file(path: Path) -> None:
    """Create the database file 0600, or tighten the mode of one this user owns."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            try:
                info = candidate.stat()
            except FileNotFoundError:
                continue
            if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(candidate, stat.S_IMODE(info.st_mode) & 0o700)
    else:
        os.close(fd)


def identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) the path names now; None when it names nothing."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def foreign_problem(path: Path) -> str | None:
    """Why an existing file is not a tether store (None when it is one or is empty); reads only,
    so a file that is not tether's is left exactly as it was."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"it cannot be opened as a SQLite database ({exc})"
    try:
        return _foreign_tables(conn)
    except sqlite3.DatabaseError as exc:
        return f"it is not a SQLite database ({exc})"
    finally:
        conn.close()


def _foreign_tables(conn: sqlite3.Connection) -> str | None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            return None
    shown = ", ".join(sorted(tables)[:5])
    return f"it is a SQLite database with other tables ({shown}), not a tether store"


def free_bytes(path: Path) -> int:
    info = os.statvfs(path.parent)
    return info.f_bavail * info.f_frsize
