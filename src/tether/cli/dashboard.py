"""``tether dashboard``: the web dashboard over a store, with no tether running (read-only).

A running tether serves the same pages, with actions, under ``/dashboard/`` on its HTTP port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvicorn

from tether.cli import target
from tether.cli.output import CliError
from tether.dashboard import mount
from tether.dashboard.source import Source
from tether.engine.query import Query
from tether.store.factory import default_store_url

DEFAULT_PORT = 8080


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the web dashboard over a store (read-only; a running tether serves it "
        "with actions at /dashboard/)",
    )
    p.add_argument("--port", "-p", type=int, default=DEFAULT_PORT,
                   help=f"HTTP port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--listen-address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1)")
    p.add_argument("--connection-string",
                   help="the tether store, e.g. sqlite:///path/to/tether.db (default: the "
                   "per-user store)")
    p.add_argument("--api-token",
                   help="require this token to sign in (default: $DAPR_API_TOKEN, else none)")
    p.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port: {args.port} is not a port number (0-65535)")
    url = target.store_url(args.connection_string or default_store_url())
    token = target.api_token(args.api_token)

    async def main() -> None:
        store = target.open_cli_store(url)
        try:
            app = mount(Source(Query(store), api_token=token))
            config = uvicorn.Config(app, host=args.listen_address, port=args.port,
                                    log_config=None, log_level="warning", lifespan="off",
                                    access_log=False)
            server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            if server.started:
                port = server.servers[0].sockets[0].getsockname()[1]
                print(f"tether dashboard (read-only) for {url} at "
                      f"http://{args.listen_address}:{port}/dashboard/", flush=True)
            await task
        finally:
            await store.close()

    asyncio.run(main())
    return 0
