"""The ``tether`` command: ``serve``, ``run``, ``workflow …``, ``scheduler …``, ``dashboard``."""

from __future__ import annotations

import argparse
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        sys.exit(2)
    try:
        code = args.func(args)
    except TetherError as exc:
        print(f"tether: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)
