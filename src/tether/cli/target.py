"""Finding what a command talks to: a running local tether (through :mod:`tether.registry`) over
gRPC, or a store opened directly from ``--connection-string``."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from tether import registry
from tether.cli.output import CliError, warn
from tether.errors import TetherError
from tether.registry import RunningSidecar
from tether.store import Store, open_store
from tether.store.factory import default_store_url, is_postgres, sqlite_path

T = TypeVar("T")

SERVICE = "TaskHubSidecarService"
TOKEN_HEADER = "dapr-api-token"


def how_to_start(app_id: str | None) -> str:
    app = app_id or "<app-id>"
    return (
        f"start one with `tether run --app-id {app} -- python3 app.py` "
        f"or `tether serve --app-id {app}`"
    )


def find_sidecar(app_id: str | None) -> RunningSidecar:
    """The running local tether for ``app_id`` (or the only one running when omitted)."""
    running = registry.running()
    if app_id:
        matches = [r for r in running if r.app_id == app_id]
        if not matches:
            others = sorted({r.app_id for r in running})
            hint = f" (running: {', '.join(others)})" if others else ""
            raise CliError(
                f"no tether is running for app ID {app_id!r}{hint}; {how_to_start(app_id)}"
            )
        return max(matches, key=lambda r: r.started_at)
    apps = sorted({r.app_id for r in running})
    if not apps:
        raise CliError(
            f"no tether instances found. Please ensure that tether is running: {how_to_start(None)}"
        )
    if len(apps) > 1:
        raise CliError(
            "the app ID is required when there are multiple tether instances. Please specify it "
            f"using the --app-id flag (running: {', '.join(apps)})"
        )
    return max(running, key=lambda r: r.started_at)


def resolve_app_id(app_id: str | None) -> str:
    """The app a store-only command works on: the flag, else the only running tether's."""
    if app_id:
        return app_id
    return find_sidecar(None).app_id


# -- gRPC ------------------------------------------------------------------------------------
def _dial_host(address: str) -> str:
    if address in ("", "0.0.0.0"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    return f"[{address}]" if ":" in address else address


class SidecarClient:
    """Unary calls to a tether's ``TaskHubSidecarService`` with :mod:`tether.pb` messages."""

    def __init__(self, entry: RunningSidecar, timeout: float = 60.0) -> None:
        self.entry = entry
        self.app_id = entry.app_id
        self.address = f"{_dial_host(entry.listen_address)}:{entry.grpc_port}"
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", -1)]
        )
        token = os.environ.get("DAPR_API_TOKEN")
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
            return CliError(f"{details} (the tether for {self.app_id!r} requires an API token)")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CliError(f"tether for app ID {self.app_id!r} did not answer in time")
        return CliError(str(details))

    def close(self) -> None:
        self._channel.close()


def connect(app_id: str | None) -> SidecarClient:
    return SidecarClient(find_sidecar(app_id))


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


def run_on_store(url: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run ``fn`` on a fresh event loop, close the store."""

    async def main() -> T:
        store = open_cli_store(url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


def scheduler_store_urls(connection_string: str | None, app_id: str | None) -> list[str]:
    """Stores holding the reminders a ``scheduler`` command works on."""
    if connection_string:
        return [store_url(connection_string)]
    running = registry.running()
    if app_id:
        running = [r for r in running if r.app_id == app_id]
    urls = list(dict.fromkeys(r.store_url for r in running))
    if urls:
        return urls
    default = default_store_url()
    if default.startswith("sqlite:///") and not Path(sqlite_path(default)).is_file():
        raise CliError(
            f"no tether is running{f' for app ID {app_id!r}' if app_id else ''} and there is no "
            f"store at {sqlite_path(default)}; pass --connection-string or {how_to_start(app_id)}"
        )
    return [default]
