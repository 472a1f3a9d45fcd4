"""Sidecars for tests: a subprocess one and an in-process one, both on free ports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tether.settings import Settings
from tether.store.factory import is_postgres


class SidecarProcess:
    """``tether serve`` in a subprocess on a given store (a SQLite file, or a PostgreSQL URL or
    keyword string), with ports picked by the OS."""

    def __init__(
        self,
        store_path: Path | str,
        *,
        app_id: str = "testapp",
        home: Path | str | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        self.store = store_path
        self.store_path = Path(store_path)  # meaningful for a SQLite store only
        self.app_id = app_id
        if is_postgres(str(store_path)):
            folder = Path(home).parent if home else Path(tempfile.mkdtemp(prefix="tether-"))
        else:
            folder = self.store_path.parent
        self.home = Path(home) if home else folder / "tether-home"
        self.extra_args = extra_args or []
        self.extra_env = env or {}
        self.log_path = Path(log_path) if log_path else folder / f"tether-{app_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._log: IO[bytes] | None = None

    @property
    def store_url(self) -> str:
        if is_postgres(str(self.store)):
            return str(self.store)
        return f"sqlite:///{self.store_path}"

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TETHER_HOME"] = str(self.home)
        env.pop("DAPR_API_TOKEN", None)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> SidecarProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable,
            "-m",
            "tether",
            "serve",
            "--app-id",
            self.app_id,
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--store",
            self.store_url,
            "--log-level",
            "debug",
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(cmd, env=self.base_env(), stdout=self._log, stderr=self._log)
        entry = self.home / "run" / f"{self.app_id}-{self.proc.pid}.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"tether serve exited with {self.proc.returncode}; see {self.log_path}"
                )
            if entry.exists():
                try:
                    data = json.loads(entry.read_text())
                except ValueError:
                    data = None
                if data:
                    self.grpc_port = data["grpc_port"]
                    self.http_port = data["http_port"]
                    return self
            time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"tether serve did not come up within {timeout}s; see {self.log_path}")

    def env(self) -> dict[str, str]:
        """Environment for an SDK process that should talk to this sidecar."""
        env = self.base_env()
        env.update(
            DAPR_GRPC_PORT=str(self.grpc_port),
            DAPR_HTTP_PORT=str(self.http_port),
            DAPR_RUNTIME_HOST="127.0.0.1",
            APP_ID=self.app_id,
        )
        env.pop("DAPR_GRPC_ENDPOINT", None)
        return env

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the graceful path."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SidecarProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class InProcessSidecar:
    """A sidecar on a background thread of this process, on free loopback ports."""

    def __init__(self, store_path: Path | str, *, app_id: str = "testapp", **settings: Any) -> None:
        self.settings = Settings(
            app_id=app_id,
            grpc_port=0,
            http_port=0,
            store_url=f"sqlite:///{Path(store_path)}",
            **settings,
        )
        self.grpc_port = 0
        self.http_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.engine: Any = None  # the running engine (e.g. ``engine.observer``), once started

    def start(self, timeout: float = 30.0) -> InProcessSidecar:
        self._thread = threading.Thread(target=self._main, name="tether-sidecar", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the in-process sidecar did not start")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        from tether.sidecar import Sidecar

        async def run() -> None:
            self._stop = asyncio.Event()
            sidecar = Sidecar(self.settings, announce=False)
            try:
                await sidecar.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise
            self.grpc_port, self.http_port = sidecar.grpc_port, sidecar.http_port
            self.engine = sidecar.engine
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()
            await sidecar.stop()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported through start()
            self._error = exc

    def env(self) -> dict[str, str]:
        return {
            "DAPR_GRPC_PORT": str(self.grpc_port),
            "DAPR_HTTP_PORT": str(self.http_port),
            "DAPR_RUNTIME_HOST": "127.0.0.1",
        }

    def apply_env(self) -> None:
        """Point this process's SDK clients at the sidecar (the SDK reads these at import time)."""
        os.environ.update(self.env())
        try:
            from dapr.conf import settings as dapr_settings

            dapr_settings.DAPR_GRPC_PORT = str(self.grpc_port)
            dapr_settings.DAPR_HTTP_PORT = str(self.http_port)
            dapr_settings.DAPR_RUNTIME_HOST = "127.0.0.1"
        except ImportError:
            pass

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> InProcessSidecar:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
