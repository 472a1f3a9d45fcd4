"""The message-size limit the sidecar's gRPC transport enforces, applied in-process too."""

from __future__ import annotations

# protocol.server lets a message through up to max_payload plus this much framing headroom.
_HEADROOM = 64 * 1024


def receive_limit(max_payload: int) -> int:
    """The largest message the sidecar's gRPC server accepts."""
    return max_payload + _HEADROOM
