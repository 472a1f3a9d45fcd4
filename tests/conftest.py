"""Shared fixtures: a real tether on a fresh store, and the official Dapr SDK (worker and client)
pointed at it.

Stores: the store contract and conformance suites run every test body on each backend chosen
(``--backends sqlite,postgres`` or ``$TETHER_TEST_BACKENDS``; default both); elsewhere the store
is a SQLite file. PostgreSQL: one throwaway cluster per session (started only if a test asks for
it), a fresh database per test copied from a migrated template.

Doors: the conformance suite also runs every body through the embedded door (the engine inside
this process, ``tether.embedded``'s runtime and client, the node also serving the gRPC port so raw
protocol calls in the tests reach it), on SQLite: the door is what it tests, the stores are covered
by the sidecar runs. Embedded runs check every sticky turn against a full replay
(``TETHER_STICKY_VERIFY=0`` turns that off). Tests about gRPC wire details are sidecar-only: see
``SIDECAR_ONLY`` in ``tests/conformance/_support.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# pytest rewrites every module of a plugin's distribution (all of hypothesis) when it is first
# imported. On CPython 3.11.7 a failed AST build elsewhere in the process can leave the AST
# recursion counter wrong (fixed in 3.11.8), and a rewrite during a test then fails with
# "AST constructor recursion depth mismatch". Import hypothesis's one lazily loaded module now,
# at collection, so no rewrite happens mid-test.
import hypothesis.internal.conjecture.optimiser  # noqa: F401
import pytest

from tests.conformance._support import DOORS, EmbeddedDoor, door_for
from tether.testing import SidecarProcess

BACKENDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("TETHER_TEST_BACKENDS", ",".join(BACKENDS)),
        help="comma-separated store backends the store and conformance suites run on "
        "(default: sqlite,postgres; also $TETHER_TEST_BACKENDS)",
    )


# The suites whose every test runs once per backend; elsewhere ``backend`` is SQLite.
_PER_BACKEND = ("store_contract", "conformance")


def chosen_backends(config: pytest.Config) -> list[str]:
    chosen = [b.strip() for b in str(config.getoption("--backends")).split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"--backends: unknown {unknown}; choose from {BACKENDS}")
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    suite = Path(str(metafunc.definition.path)).parent.name
    backends = chosen_backends(metafunc.config) if suite in _PER_BACKEND else ["sqlite"]
    doors = door_for(metafunc.definition.nodeid, DOORS) if "door" in metafunc.fixturenames else []
    if len(doors) > 1:
        combos = [("sidecar", b) for b in backends]
        combos += [(d, "sqlite") for d in doors if d != "sidecar" and "sqlite" in backends]
        metafunc.parametrize(
            ("door", "backend"), combos, indirect=["door"], ids=[f"{d}-{b}" for d, b in combos]
        )
    elif "backend" in metafunc.fixturenames and suite in _PER_BACKEND:
        metafunc.parametrize("backend", backends)


@pytest.fixture
def door(request: pytest.FixtureRequest) -> str:
    """Which way the SDK reaches the engine: "sidecar" (gRPC) or "embedded" (in-process)."""
    return getattr(request, "param", "sidecar")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="session")
def pg_databases(pytestconfig: pytest.Config) -> Iterator[Any]:
    """Fresh PostgreSQL databases from one session-wide cluster (see FreshDatabases)."""
    if "postgres" not in chosen_backends(pytestconfig):
        pytest.skip("PostgreSQL is not among --backends")
    from tether.store.postgres.store import PostgresStore
    from tether.testing.postgres import FreshDatabases, postgres_cluster

    def migrate(url: str) -> None:
        asyncio.run(PostgresStore(url).close())

    # No fsync: a database copy per test stays cheap. A killed server loses nothing with it
    # off (the data is in the OS cache); only a machine crash would, and no test makes one.
    with postgres_cluster(settings={"fsync": "off", "full_page_writes": "off"}) as cluster:
        yield FreshDatabases(cluster).prepare(migrate)


@pytest.fixture
def store_location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Where a test's store lives: a SQLite file path, or a PostgreSQL URL."""
    if backend == "sqlite":
        yield tmp_path / "tether.db"
        return
    databases = request.getfixturevalue("pg_databases")
    url = databases.new()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture
def sidecar(
    store_location: Any, tmp_path: Path, door: str
) -> Iterator[SidecarProcess | EmbeddedDoor]:
    proc: SidecarProcess | EmbeddedDoor
    if door == "embedded":
        proc = EmbeddedDoor(tmp_path / "tether.db", app_id="testapp").start()
    else:
        home = tmp_path / "tether-home"
        proc = SidecarProcess(store_location, app_id="testapp", home=home).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def wf_runtime(sidecar: SidecarProcess | EmbeddedDoor) -> Iterator[Callable[..., Any]]:
    """Build a ``WorkflowRuntime`` against the sidecar; call ``.start()`` after registering.
    Every runtime made is shut down at the end of the test."""
    import dapr.ext.workflow as wf

    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        if isinstance(sidecar, EmbeddedDoor):
            runtime = sidecar.runtime(**kwargs)
        else:
            runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(sidecar.grpc_port), **kwargs)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        with contextlib.suppress(Exception):
            runtime.shutdown()
    if isinstance(sidecar, EmbeddedDoor):
        sidecar.assert_sticky_matched_replay()


@pytest.fixture
def wf_client(sidecar: SidecarProcess | EmbeddedDoor) -> Iterator[Any]:
    import dapr.ext.workflow as wf

    if isinstance(sidecar, EmbeddedDoor):
        client = sidecar.client()
        yield client
        client.close()
    else:
        yield wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """``wait_until`` inside an event loop: poll while letting the loop's tasks run."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)  # lets the engine's tasks run; the deadline bounds the wait
