"""Finding what a command talks to: a running local tether (through :mod:`tether.registry`) over
gRPC or HTTP, or a store that no tether serves, opened from ``--connection-string``."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from tether import registry
from tether.cli.output import CliError, warn
from tether.cli.remote import dial_host, require_token
from tether.engine.admin import Admin
from tether.errors import TetherError
from tether.registry import RunningSidecar
from tether.store import Store, open_store
from tether.store.factory import is_postgres, sqlite_path

T = TypeVar("T")

SERVICE = "TaskHubSidecarService"
TOKEN_HEADER = "dapr-api-token"


def how_to_start(app_id: str | None) -> str:
    app = app_id or "<app-id>"
    return (
        f"start one with `tether run --app-id {app} -- python3 app.py` "
        f"or `tether serve --app-id {app}`"
    )


OR_STORE = "or pass --connection-string sqlite:///path/to/tether.db to work on a store directly"


def find_sidecar(app_id: str | None) -> RunningSidecar:
    """The running local tether for ``app_id`` (or the only one running when omitted)."""
    running = registry.running()
    if app_id:
        matches = [r for r in running if r.app_id == app_id]
        if not matches:
            others = sorted({r.app_id for r in running})
            hint = f" (running: {', '.join(others)})" if others else ""
            raise CliError(
                f"no tether is running for app ID {app_id!r}{hint}; {how_to_start(app_id)}, "
                f"{OR_STORE}"
            )
        return max(matches, key=lambda r: r.started_at)
    apps = sorted({r.app_id for r in running})
    if not apps:
        raise CliError(
            "no tether instances found. Please ensure that tether is running: "
            f"{how_to_start(None)}, {OR_STORE}"
        )
    if len(apps) > 1:
        raise CliError(
            "the app ID is required when there are multiple tether instances. Please specify it "
            f"using the --app-id flag (running: {', '.join(apps)})"
        )
    return max(running, key=lambda r: r.started_at)


# -- gRPC ------------------------------------------------------------------------------------
class SidecarClient:
    """Unary calls to a tether's ``TaskHubSidecarService`` with :mod:`tether.pb` messages."""

    def __init__(
        self, entry: RunningSidecar, token: str | None = None, timeout: float = 60.0
    ) -> None:
        require_token(entry, token)
        self.entry = entry
        self.app_id = entry.app_id
        self.address = f"{dial_host(entry.listen_address)}:{entry.grpc_port}"
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", -1)]
        )
        self._metadata: list[tuple[str, str]] = [(TOKEN_HEADER, token)] if token else []

    def call(
        self, method: str, request: Any, response_cls: Any, timeout: float | None = None
    ) -> Any:
        stub = self._channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        try:
            return stub(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> CliError:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        if code == grpc.StatusCode.UNAVAILABLE:
            return CliError(
                f"cannot reach tether for app ID {self.app_id!r} at {self.address}: {details}; "
                f"{how_to_start(self.app_id)}"
            )
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return CliError(
                f"the tether for app ID {self.app_id!r} refused the request ({details}); pass "
                "--api-token or set DAPR_API_TOKEN"
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CliError(f"tether for app ID {self.app_id!r} did not answer in time")
        return CliError(str(details))

    def close(self) -> None:
        self._channel.close()


def api_token(flag: str | None) -> str | None:
    """``--api-token``, else ``DAPR_API_TOKEN`` (what the SDKs send too)."""
    return flag or os.environ.get("DAPR_API_TOKEN") or None


def connect(app_id: str | None, token: str | None = None) -> SidecarClient:
    return SidecarClient(find_sidecar(app_id), token)


# -- stores ----------------------------------------------------------------------------------
_UNSUPPORTED = (
    ("redis://", "Redis"),
    ("rediss://", "Redis"),
    ("mongodb://", "MongoDB"),
    ("mongodb+srv://", "MongoDB"),
    ("sqlserver://", "SQL Server"),
    ("mysql://", "MySQL"),
)


def store_url(connection_string: str, table_name: str | None = None) -> str:
    """A ``--connection-string`` as a tether store URL, refusing what this build cannot open.

    PostgreSQL: a URL or a libpq keyword string (as Dapr's components write them); ``table_name``
    (``--table-name``) selects the store's schema, as ``schema=`` in the string would.
    """
    conn = connection_string.strip()
    if not conn:
        raise CliError("--connection-string is empty")
    for prefix, kind in _UNSUPPORTED:
        if conn.lower().startswith(prefix):
            raise CliError(
                f"--connection-string: tether keeps workflow state in SQLite (or PostgreSQL), not "
                f"{kind}; pass the tether store, e.g. sqlite:///path/to/tether.db"
            )
    if re.search(r"@tcp\(", conn):
        raise CliError(
            "--connection-string: tether keeps workflow state in SQLite (or PostgreSQL), not "
            "MySQL; pass the tether store, e.g. sqlite:///path/to/tether.db"
        )
    if is_postgres(conn):
        return _postgres_target(conn, table_name)
    if table_name:
        warn(f"--table-name {table_name!r} is ignored: a SQLite store has one fixed layout")
    path = sqlite_path(conn).expanduser()
    if not path.is_file():
        raise CliError(f"--connection-string: no tether store at {path}")
    return f"sqlite:///{path.resolve()}"


def _postgres_target(conn: str, table_name: str | None) -> str:
    from tether.store.postgres.config import parse_target, with_schema

    try:
        if table_name:
            return with_schema(conn, table_name)
        parse_target(conn)  # refuses a bad schema option now, with the flag's name
        return conn
    except TetherError as exc:
        raise CliError(f"--connection-string: {exc.message}") from None


def open_cli_store(url: str) -> Store:
    try:
        return open_store(url)
    except TetherError as exc:
        raise CliError(exc.message) from None


def on_store(url: str, fn: Callable[[Admin], Awaitable[T]]) -> T:
    """Run engine operations (and reads) on a store that no tether serves, in this process."""

    async def main() -> T:
        store = open_cli_store(url)
        try:
            return await fn(Admin(store))
        except CliError:
            raise
        except TetherError as exc:
            raise CliError(exc.message) from None
        finally:
            await store.close()

    return asyncio.run(main())


@dataclass(frozen=True)
class Target:
    """What a command works on: a running tether, through its engine, or else a store that no
    tether serves, through the engine's operations run in this process."""

    sidecar: RunningSidecar | None
    store_url: str | None = None


def _same_store(a: str, b: str) -> bool:
    if a.startswith("sqlite:///") and b.startswith("sqlite:///"):
        return Path(sqlite_path(a)).resolve() == Path(sqlite_path(b)).resolve()
    return a == b


def serving(url: str, app_id: str | None) -> list[RunningSidecar]:
    """Running local tethers on the store ``url`` (of ``app_id`` when given), newest first."""
    found = [
        r
        for r in registry.running()
        if _same_store(r.store_url, url) and (app_id is None or r.app_id == app_id)
    ]
    return sorted(found, key=lambda r: r.started_at, reverse=True)


def resolve(
    app_id: str | None, connection_string: str | None, table_name: str | None = None
) -> Target:
    """A running tether for the app (or on ``--connection-string``'s store), else that store;
    ``table_name`` (``--table-name``) picks a PostgreSQL store's schema."""
    if not connection_string:
        return Target(find_sidecar(app_id))
    url = store_url(connection_string, table_name)
    running = serving(url, app_id)
    return Target(running[0]) if running else Target(None, url)
