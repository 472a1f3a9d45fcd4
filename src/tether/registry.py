"""Where local tether processes announce themselves, so the CLI can find one by app id.

Each running sidecar writes ``<data dir>/run/<app id>-<pid>.json``; entries whose process is gone
are ignored and removed by whoever reads them. A tether that was SIGKILLed cannot remove its own
entry, and its pid may be a zombie or taken by another process by the time someone reads it: an
entry records its process's start time (Linux ``/proc``), and a zombie or a different start time
marks it stale.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tether.engine.nodes import pid_alive
from tether.store.factory import default_data_dir, private_dir


@dataclass(frozen=True)
class RunningSidecar:
    app_id: str
    pid: int
    grpc_port: int
    http_port: int
    listen_address: str
    store_url: str
    started_at: float
    api_token_set: bool = False
    process_started: str | None = None  # /proc/<pid>/stat start time, where there is one


def process_started(pid: int) -> str | None:
    """The kernel's start time of ``pid`` ("" for a zombie), or None where /proc has no answer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return "" if fields[0] in ("Z", "X") else fields[19]


def _alive(entry: RunningSidecar) -> bool:
    if not pid_alive(entry.pid):
        return False
    started = process_started(entry.pid)
    if started == "":
        return False
    return entry.process_started is None or started is None or started == entry.process_started


def run_dir() -> Path:
    return default_data_dir() / "run"


def announce(entry: RunningSidecar) -> Path:
    folder = run_dir()
    private_dir(folder.parent)
    private_dir(folder)
    path = folder / f"{entry.app_id}-{entry.pid}.json"
    tmp = path.with_suffix(".tmp")
    # Owner-only: the store URL may hold a database password.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(asdict(entry)))
    os.replace(tmp, path)
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def running() -> list[RunningSidecar]:
    """Every live local sidecar; stale entries are cleaned up."""
    folder = run_dir()
    found: list[RunningSidecar] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            entry = RunningSidecar(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if _alive(entry):
            found.append(entry)
        else:
            path.unlink(missing_ok=True)
    return found
