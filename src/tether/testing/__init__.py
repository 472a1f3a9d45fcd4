"""Run a real tether sidecar inside tests, with no Docker and no Dapr.

* :class:`SidecarProcess` starts ``tether serve`` as a subprocess (what users and CI see);
  it can be killed with SIGKILL and restarted on the same store.
* :class:`InProcessSidecar` runs a sidecar on a background thread of the current process,
  on free ports: the quickest way to test your own workflows.

Both expose ``grpc_port``/``http_port`` and an ``env()`` dict with ``DAPR_GRPC_PORT`` etc.
"""

from tether.testing.harness import InProcessSidecar, SidecarProcess

__all__ = ["InProcessSidecar", "SidecarProcess"]
