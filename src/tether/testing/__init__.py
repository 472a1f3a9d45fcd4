"""Run a real tether sidecar inside tests, with no Docker and no Dapr.

* :class:`SidecarProcess` starts ``tether serve`` as a subprocess (what users and CI see);
  it can be killed with SIGKILL and restarted on the same store.
* :class:`InProcessSidecar` runs a sidecar on a background thread of the current process,
  on free ports: the quickest way to test your own workflows.

Both expose ``grpc_port``/``http_port`` and an ``env()`` dict with ``DAPR_GRPC_PORT`` etc.

* :class:`TimeSkipping` runs workflows on an embedded engine with a virtual clock that skips to
  the next timer (``tether.testing.pytest_plugin`` offers it as the ``workflow_env`` fixture).

:mod:`tether.testing.faults` adds seeded faults: a proxy that drops, duplicates, delays and
reorders work items and completions, and a store whose writes fail on demand.
"""

from tether.testing.harness import InProcessSidecar, SidecarProcess
from tether.testing.timeskip import TimeSkipping, VirtualClock

__all__ = ["InProcessSidecar", "SidecarProcess", "TimeSkipping", "VirtualClock"]
