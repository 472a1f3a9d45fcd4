"""Open a store from its URL; backends and their drivers are imported only when chosen."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tether.errors import ConfigError
from tether.store.base import Store


def default_data_dir() -> Path:
    """The per-user folder shared by every local tether process (like ``~/.dapr``)."""
    override = os.environ.get("TETHER_HOME")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tether"


def private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) readable by this user only: the per-user folder
    holds the store, whose payloads only the token should open."""
    if folder.is_dir():
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def default_store_url() -> str:
    return os.environ.get("TETHER_STORE") or f"sqlite:///{default_data_dir() / 'tether.db'}"


def sqlite_path(url: str) -> Path:
    """The file of a SQLite store URL.

    ``sqlite:///abs/path.db`` names ``/abs/path.db`` (everything after ``sqlite://`` is the path);
    ``sqlite:orders.db`` or ``sqlite:data/orders.db`` is relative to the working directory; a bare
    path is taken as it is."""
    if url.startswith("sqlite:///"):
        return Path("/" + url[len("sqlite://") :].lstrip("/"))
    if url.startswith("sqlite://"):
        raise ConfigError(
            f"store: {url!r} is not a SQLite URL; use sqlite:///absolute/path.db or "
            "sqlite:relative/path.db"
        )
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :]
        if not rest:
            raise ConfigError("store: 'sqlite:' names no file; e.g. sqlite:orders.db")
        return Path(rest)
    return Path(url)


def is_postgres(url: str) -> bool:
    """A PostgreSQL URL (``postgresql://…``) or libpq keyword string (``host=… dbname=…``)."""
    text = url.strip()
    return text.startswith(("postgres://", "postgresql://")) or bool(re.match(r"\w+\s*=", text))


def check_url(url: str) -> None:
    """Refuse a store URL that names neither a SQLite file nor a PostgreSQL database."""
    if not is_postgres(url):
        sqlite_path(url)


def open_store(url: str) -> Store:
    if is_postgres(url):
        try:
            from tether.store.postgres.store import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"store: a PostgreSQL store needs the driver: pip install 'tether[postgres]' "
                f"({exc})"
            ) from exc
        return PostgresStore(url)
    from tether.store.sqlite.store import SqliteStore

    return SqliteStore(sqlite_path(url).expanduser().resolve())
