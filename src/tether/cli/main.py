"""The ``tether`` command: ``serve``, ``run``, ``workflow …``, ``scheduler …``, ``dashboard``."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from tether import __version__
from tether.errors import TetherError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether", description="A pure-Python engine for Dapr Workflow."
    )
    parser.add_argument("--version", action="version", version=f"tether {__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND")
    from tether.cli import dashboard, run, scheduler, serve, workflow

    serve.register(sub)
    run.register(sub)
    workflow.register(sub)
    scheduler.register(sub)
    dashboard.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    try:
        code = _run(argv)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`… | head`): stop quietly, as Unix tools do. Output still
        # buffered would fail again at exit, so stdout goes to /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TetherError as exc:
        print(f"tether: {exc.message}", file=sys.stderr)
        return 1
