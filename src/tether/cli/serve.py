"""``tether serve``: a sidecar on its own until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal

from tether import log as tether_log
from tether.cli.sidecar_args import Resolved, add_sidecar_flags, resolve
from tether.settings import Settings
from tether.sidecar import Sidecar

logger = logging.getLogger("tether.cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run a sidecar (the Dapr workflow engine) until stopped")
    add_sidecar_flags(parser, default_ports=(50001, 3500))
    parser.set_defaults(func=run_serve)


def warn_if_exposed(settings: Settings) -> None:
    address = settings.listen_address
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = address == "localhost"
    if not loopback and not settings.api_token:
        logger.warning(
            "listening on %s without an API token: anyone who can reach this address can manage "
            "workflows; set --api-token or DAPR_API_TOKEN",
            address,
        )


async def serve_until_stopped(settings: Settings, stop: asyncio.Event) -> None:
    sidecar = Sidecar(settings)
    await sidecar.start()
    try:
        await stop.wait()
    finally:
        logger.info("stopping")
        await sidecar.stop()


def announce_notices(resolved: Resolved) -> None:
    """After logging is set up: what was ignored or chosen, and exposure warnings."""
    for notice in resolved.notices:
        logger.info("%s", notice)
    warn_if_exposed(resolved.settings)


def run_serve(args: argparse.Namespace) -> int:
    resolved = resolve(args)
    settings = resolved.settings
    tether_log.configure(settings.log_level, as_json=args.log_as_json, file=args.log_file)
    announce_notices(resolved)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_until_stopped(settings, stop)

    asyncio.run(main())
    return 0
