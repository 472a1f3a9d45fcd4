"""``tether run -- CMD``: a sidecar for the lifetime of an app process, like ``dapr run``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal

from tether import log as tether_log
from tether.cli.serve import announce_notices
from tether.cli.sidecar_args import add_sidecar_flags, app_environment, resolve
from tether.sidecar import Sidecar

logger = logging.getLogger("tether.cli")
# How long an app has to exit after a stop signal before it is killed (dapr run's 5 s).
GRACE_SECONDS = 5.0


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
        # Its own process group, as dapr run does: a terminal's Ctrl+C reaches tether once and is
        # passed on once, and stopping the app stops what it started.
        proc = await asyncio.create_subprocess_exec(*command, env=env, process_group=0)
    except OSError as exc:
        await sidecar.stop()
        logger.error("cannot start %s: %s", command[0], exc)
        return 127
    stopper = _Stopper(proc, loop)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stopper.forward, sig)
    try:
        code = await proc.wait()
    finally:
        stopper.cancel()
        await sidecar.stop()
    logger.info("app exited with code %d", code)
    return code if code >= 0 else 128 - code


class _Stopper:
    """Pass a stop signal on to the app's process group; kill the group if it is still there
    after the grace period (an app that ignores SIGINT must not keep tether waiting forever)."""

    def __init__(self, proc: asyncio.subprocess.Process, loop: asyncio.AbstractEventLoop) -> None:
        self.proc = proc
        self.loop = loop
        self._deadline: asyncio.TimerHandle | None = None

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def forward(self, sig: signal.Signals) -> None:
        if self.proc.returncode is not None:
            return
        self._signal(sig)
        if self._deadline is None:
            self._deadline = self.loop.call_later(GRACE_SECONDS, self._kill, sig)

    def _kill(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:
            logger.warning(
                "the app did not exit within %gs of %s: killing it", GRACE_SECONDS, sig.name
            )
            self._signal(signal.SIGKILL)

    def cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
