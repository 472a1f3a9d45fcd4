"""``python -m tether.embedded app.py [args]``: run an unchanged Dapr workflow app embedded.

The app's ``dapr.ext.workflow.WorkflowRuntime`` and ``DaprWorkflowClient`` (and the asyncio
client) become :mod:`tether.embedded`'s, so the app runs with the engine inside its process and
no sidecar. ``-m module`` runs a module instead of a script. ``APP_ID`` and ``TETHER_STORE``
choose the app id and the store.
"""

from __future__ import annotations

import runpy
import sys

from tether.embedded import DaprWorkflowClient, WorkflowRuntime, _sdk
from tether.embedded.aio import DaprWorkflowClient as AsyncDaprWorkflowClient


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        raise SystemExit(0 if argv else 2)
    _sdk.install(WorkflowRuntime, DaprWorkflowClient, AsyncDaprWorkflowClient)
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
