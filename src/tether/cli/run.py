"""``tether run -- CMD``: a sidecar for the lifetime of an app process, like ``dapr run``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from tether import log as tether_log
from tether.cli.serve import announce_notices
from tether.cli.sidecar_args import add_sidecar_flags, app_environment, resolve
from tether.sidecar import Sidecar

logger = logging.getLogger("tether.cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run an app with a sidecar: tether run --app-id ID -- python3 app.py",
    )
    add_sidecar_flags(parser, default_ports=(0, 0))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the app's command, after --")
    parser.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SystemExit(
            "tether run: give the app's command after --, "
            "e.g. tether run -a myapp -- python3 app.py"
        )
    resolved = resolve(args)
    settings = resolved.settings
    tether_log.configure(
        settings.log_level, as_json=args.log_as_json, file=args.log_file, prefix="[tether] "
    )
    announce_notices(resolved)
    return asyncio.run(_run(settings, command))


async def _run(settings: object, command: list[str]) -> int:
    from tether.settings import Settings

    assert isinstance(settings, Settings)
    sidecar = Sidecar(settings)
    await sidecar.start()
    env = dict(os.environ)
    env.update(
        DAPR_GRPC_PORT=str(sidecar.grpc_port),
        DAPR_HTTP_PORT=str(sidecar.http_port),
        **app_environment(settings),
        DAPR_RUNTIME_HOST=(
            settings.listen_address
            if settings.listen_address not in ("0.0.0.0", "::")
            else "127.0.0.1"
        ),
    )
    env.pop("DAPR_GRPC_ENDPOINT", None)
    env.pop("DAPR_HTTP_ENDPOINT", None)
    if settings.api_token:
        env["DAPR_API_TOKEN"] = settings.api_token
    loop = asyncio.get_running_loop()
    try:
        proc = await asyncio.create_subprocess_exec(*command, env=env)
    except OSError as exc:
        await sidecar.stop()
        logger.error("cannot start %s: %s", command[0], exc)
        return 127

    def forward(sig: signal.Signals) -> None:
        if proc.returncode is None:
            proc.send_signal(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, forward, sig)
    try:
        code = await proc.wait()
    finally:
        await sidecar.stop()
    logger.info("app exited with code %d", code)
    return code if code >= 0 else 128 - code
