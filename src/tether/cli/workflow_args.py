"""What the ``tether workflow …`` commands share: their flags, and how a command finds the
tether (or the store) it works on."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from tether.cli import target
from tether.cli.instances import InstanceSource, RemoteSource, StoreSource
from tether.cli.output import CliError, warn
from tether.cli.remote import TetherHttp
from tether.engine.admin import Admin

LIST_STATUSES = [
    "RUNNING",
    "COMPLETED",
    "CONTINUED_AS_NEW",
    "FAILED",
    "CANCELED",
    "TERMINATED",
    "PENDING",
    "SUSPENDED",
]
TERMINAL_NAMES = {"COMPLETED", "CONTINUED_AS_NEW", "FAILED", "CANCELED", "TERMINATED"}
FORMATS = ["short", "wide", "yaml", "json"]
Offline = Callable[[Admin], Awaitable[None]]


def common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-a", "--app-id", default=None, help="the app ID owner of the workflow instance"
    )
    parser.add_argument(
        "-k",
        "--kubernetes",
        action="store_true",
        help="accepted for Dapr CLI compatibility; tether always targets the local sidecar",
    )
    parser.add_argument("-n", "--namespace", default="default", help="namespace shown in output")
    parser.add_argument(
        "--api-token",
        default=None,
        help="the tether's API token (default: $DAPR_API_TOKEN); required when it runs with one",
    )


def connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--connection-string",
        default=None,
        help="the tether store to work on (a SQLite path or sqlite:/// URL): through the tether "
        "running on it, or directly when none is",
    )
    parser.add_argument(
        "-t", "--table-name", default=None, help="a PostgreSQL store's schema (tether's tables)"
    )


def output_flag(parser: argparse.ArgumentParser, choices: list[str]) -> None:
    parser.add_argument(
        "-o",
        "--output",
        default="short",
        choices=choices,
        metavar="FORMAT",
        help=f"output format: one of {', '.join(choices)}",
    )


def kube_warning(args: argparse.Namespace) -> None:
    if getattr(args, "kubernetes", False):
        warn("tether has no Kubernetes mode; using the local tether")


def json_input(value: str | None, flag: str) -> str | None:
    """A JSON argument, encoded once more as the Dapr CLI does (the SDK receives it as a string)."""
    if value is None:
        return None
    try:
        json.loads(value)
    except ValueError as exc:
        raise CliError(f"invalid JSON for {flag}: {exc}") from None
    return json.dumps(value)


def client_for(args: argparse.Namespace) -> target.SidecarClient:
    kube_warning(args)
    return target.connect(args.app_id, target.api_token(args.api_token))


def target_for(args: argparse.Namespace) -> target.Target:
    kube_warning(args)
    return target.resolve(
        args.app_id, getattr(args, "connection_string", None), getattr(args, "table_name", None)
    )


def source_for(args: argparse.Namespace, chosen: target.Target | None = None) -> InstanceSource:
    chosen = chosen or target_for(args)
    if chosen.sidecar is None:
        assert chosen.store_url is not None
        return StoreSource(chosen.store_url, args.app_id)
    token = target.api_token(args.api_token)
    entry = chosen.sidecar
    return RemoteSource(TetherHttp(entry, token), target.SidecarClient(entry, token), args.app_id)


def change(
    args: argparse.Namespace, rpc: str, request: Any, response_cls: Any, offline: Offline
) -> target.Target:
    """A change through the running tether's engine, else the engine's operation on the store."""
    chosen = target_for(args)
    if chosen.sidecar is not None:
        client = target.SidecarClient(chosen.sidecar, target.api_token(args.api_token))
        client.call(rpc, request, response_cls)
    else:
        assert chosen.store_url is not None
        target.on_store(chosen.store_url, offline)
    return chosen
