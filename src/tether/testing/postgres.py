"""Throwaway PostgreSQL clusters for tests: Debian's server binaries, a temporary data directory,
a free port on loopback, trust authentication, nothing left behind.

Nothing here is mocked: ``initdb``, ``pg_ctl`` and ``postgres`` are the real programs from the
``postgresql`` package. As root (CI here runs as root) they run as the ``postgres`` system user the
package creates, because PostgreSQL refuses to run as root.

A primary with a synchronous streaming standby (for failover tests) is two clusters:
``primary.start_standby()`` clones the primary with ``pg_basebackup`` and makes the clone its
synchronous standby; ``standby.promote()`` turns it into the new primary.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tether.engine.nodes import pid_alive

SUPERUSER = "tether"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")


class PostgresMissing(RuntimeError):
    """Debian's PostgreSQL server binaries are not installed."""


def server_bindir() -> Path:
    """The ``bin`` folder of the newest installed PostgreSQL server (Debian layout, or PATH)."""
    versions: list[tuple[int, Path]] = []
    if _DEBIAN_ROOT.is_dir():
        for entry in _DEBIAN_ROOT.iterdir():
            if entry.name.isdigit() and (entry / "bin" / "postgres").exists():
                versions.append((int(entry.name), entry / "bin"))
    if versions:
        return max(versions)[1]
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise PostgresMissing(
        "PostgreSQL's server is not installed: run `apt-get install postgresql` "
        "(scripts/test.sh does this when run as root)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    """The user the server programs run as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresMissing(
            "running as root needs the 'postgres' system user that Debian's postgresql "
            "package creates"
        ) from exc
    return "postgres"


class PostgresCluster:
    """One PostgreSQL server process on ``127.0.0.1:port`` with its data in ``datadir``."""

    def __init__(
        self,
        datadir: Path,
        port: int | None = None,
        *,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bindir = server_bindir()
        self.datadir = datadir
        self.port = port or free_port()
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "max_connections": "200",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "log_min_messages": "warning",
            **(settings or {}),
        }
        self.user = _run_as()
        self._owned_root: Path | None = None

    # -- building blocks ------------------------------------------------------------------------
    def _cmd(self, program: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / program), *args]
        if self.user is not None:
            return ["runuser", "-u", self.user, "--", *cmd]
        return cmd

    def _call(self, program: str, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(
            self._cmd(program, *args), capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out.stdout

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _options(self) -> str:
        parts = [f"-p {self.port}"]
        parts += [f"-c {key}={value}" for key, value in self.settings.items()]
        return " ".join(parts)

    # -- life cycle -----------------------------------------------------------------------------
    def init(self) -> PostgresCluster:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._chown(self.datadir)
        self.datadir.chmod(0o700)
        self._call(
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--no-instructions", "--locale=C",
        )  # fmt: skip
        with open(self.datadir / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def start(self, timeout: float = 60) -> PostgresCluster:
        log = self.datadir.parent / f"postgres-{self.port}.log"
        log.touch()
        self._chown(log)
        self._call(
            "pg_ctl", "-D", str(self.datadir), "-l", str(log), "-o", self._options(),
            "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10,
        )  # fmt: skip
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            probe = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on port {self.port} did not become ready")
            time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``, ``immediate`` — a crash —, or ``smart``); no-op if down."""
        if not (self.datadir / "postmaster.pid").exists():
            return
        with contextlib.suppress(RuntimeError):
            self._call("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster: the machine-crash view of the database going away."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        # Backends die when their postmaster does, but only once they notice; wait for the port.
        deadline = time.monotonic() + 30
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    # -- SQL ------------------------------------------------------------------------------------
    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql as the superuser; returns unaligned, tuples-only output."""
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-c", sql],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` if given); returns its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        clause = f" TEMPLATE {template}" if template else ""
        self.psql(f"CREATE DATABASE {name}{clause}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def keywords(self, dbname: str = "postgres") -> str:
        """The libpq keyword form of :meth:`url` (as Dapr's component files write it)."""
        return f"host=127.0.0.1 user={SUPERUSER} dbname={dbname} port={self.port} sslmode=disable"

    # -- replication ----------------------------------------------------------------------------
    def start_standby(self, name: str = "standby1") -> PostgresCluster:
        """Clone this running primary into a streaming standby, make it the synchronous one
        (a commit is acknowledged only once the standby has it), and start it."""
        standby = PostgresCluster(self.datadir.parent / name, settings=dict(self.settings))
        standby.datadir.mkdir(parents=True, exist_ok=True)
        standby._chown(standby.datadir)
        standby.datadir.chmod(0o700)
        standby._call(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
            "-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync",
            f"--dbname=application_name={name}",
        )  # fmt: skip
        standby.start()
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
        self.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 60
        while (
            self.psql(
                f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
            )
            != "sync"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not become synchronous")
            time.sleep(0.05)
        return standby

    def promote(self) -> None:
        self._call("pg_ctl", "-D", str(self.datadir), "-w", "promote")
        deadline = time.monotonic() + 60
        while self.psql("SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby was not promoted")
            time.sleep(0.05)


@contextlib.contextmanager
def postgres_cluster(*, settings: dict[str, str] | None = None) -> Iterator[PostgresCluster]:
    """A running throwaway cluster, stopped and deleted afterwards.

    Its folder is a new one in the system's temporary directory rather than a caller's (pytest's
    ``tmp_path`` sits below a folder only its owner may enter, and the server may run as the
    ``postgres`` user).
    """
    base = Path(tempfile.mkdtemp(prefix="tether-pg-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base / "primary", settings=settings).init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def stop_all(clusters: Sequence[PostgresCluster]) -> None:
    for cluster in clusters:
        cluster.stop("immediate")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class FreshDatabases:
    """A new database per test, copied from a template that already has tether's schema.

    ``prepare`` is called once with the template's URL (e.g. to open a store on it, which runs
    the migrations); a copy then costs one ``CREATE DATABASE … TEMPLATE``.
    """

    def __init__(self, cluster: PostgresCluster, template: str = "tether_template") -> None:
        self.cluster = cluster
        self.template = template
        self._count = 0

    def prepare(self, setup: Callable[[str], None]) -> FreshDatabases:
        self.cluster.drop_database(self.template)
        setup(self.cluster.create_database(self.template))
        return self

    def new(self, *, empty: bool = False) -> str:
        """The URL of a new database copied from the template (``empty``: without a schema)."""
        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        return self.cluster.create_database(name, template="template0" if empty else self.template)

    def drop(self, url: str) -> None:
        self.cluster.drop_database(url.rsplit("/", 1)[-1])
