"""`tether run` / `tether serve` with `dapr run`'s flags, Dapr component files and a Dapr
Configuration, as subprocesses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.commands.test_serve_run import env_for
from tether import daprfiles

TETHER = [sys.executable, "-m", "tether"]
SHOW_ENV = (
    "import os; print(*(f'{k}={os.environ.get(k)}' for k in "
    "('APP_ID', 'APP_PORT', 'APP_PROTOCOL', 'APP_CHANNEL_ADDRESS')), sep='\\n')"
)


def _run(
    args: list[str], home: Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = env_for(home)
    full_env["HOME"] = str(home)  # where dapr run looks for ~/.dapr/components
    full_env.update(env)
    return subprocess.run(
        [*TETHER, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _component(folder: Path, name: str, kind: str, metadata: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = f"""\
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: {kind}
          version: v1
          metadata:
        """
    (folder / f"{name}.yaml").write_text(
        textwrap.dedent(body) + textwrap.indent(textwrap.dedent(metadata), "  ") + extra
    )


def test_dapr_run_flags_are_accepted_and_the_app_gets_dapr_env(tmp_path: Path) -> None:
    result = _run(
        [
            "run",
            *("--app-id", "orders", "--app-port", "8123", "--app-protocol", "grpc"),
            *("--app-channel-address", "127.0.0.2"),
            *("--placement-host-address", "localhost:50005", "--scheduler-host-address", ""),
            *("--enable-api-logging", "--dapr-http-max-request-size", "16"),
            *("--profile-port", "7777"),
            *("--log-level", "info", "--"),
            *(sys.executable, "-c", SHOW_ENV),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "APP_ID=orders",
        "APP_PORT=8123",
        "APP_PROTOCOL=grpc",
        "APP_CHANNEL_ADDRESS=127.0.0.2",
    ]
    for flag in (
        "--placement-host-address",
        "--scheduler-host-address",
        "--enable-api-logging",
        "--profile-port",
    ):
        lines = [line for line in result.stderr.splitlines() if flag in line]
        assert len(lines) == 1 and "ignored" in lines[0], result.stderr


def test_dapr_log_levels(tmp_path: Path) -> None:
    quiet = _run(
        ["run", "-a", "q", "--log-level", "warn", "--", sys.executable, "-c", ""], tmp_path
    )
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr
    bad = _run(["run", "-a", "q", "--log-level", "loud", "--", sys.executable, "-c", ""], tmp_path)
    assert bad.returncode == 1
    assert "log_level: 'loud' is not one of debug, info, warn, error" in bad.stderr


def test_sqlite_actor_store_component_selects_the_store(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    _component(
        resources,
        "statestore",
        "state.sqlite",
        """\
        - name: connectionString
          envRef: WF_DB
        - name: actorStateStore
          value: "true"
        """,
    )
    _component(resources, "pubsub", "pubsub.redis", "- name: redisHost\n  value: localhost\n")
    work = tmp_path / "work"
    work.mkdir()
    result = _run(
        ["run", "-a", "orders", "--resources-path", str(resources), "--", sys.executable, "-c", ""],
        tmp_path,
        cwd=work,
        WF_DB="data.db",
    )
    assert result.returncode == 0, result.stderr
    assert (work / "data.db").is_file()
    assert f"store: SQLite file {work / 'data.db'} (component 'statestore'" in result.stderr


def test_secret_key_ref_from_a_local_env_secret_store(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    _component(resources, "envsecrets", "secretstores.local.env", '- name: prefix\n  value: ""\n')
    _component(
        resources,
        "statestore",
        "state.sqlite",
        """\
        - name: connectionString
          secretKeyRef:
            name: WF_DB_PATH
            key: WF_DB_PATH
        - name: actorStateStore
          value: "true"
        """,
        extra="auth:\n  secretStore: envsecrets\n",
    )
    db = tmp_path / "secret.db"
    result = _run(
        ["run", "-a", "s", "-d", str(resources), "--", sys.executable, "-c", ""],
        tmp_path,
        WF_DB_PATH=str(db),
    )
    assert result.returncode == 0, result.stderr
    assert db.is_file()


def test_unsupported_actor_stores_are_refused_clearly(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    _component(
        resources,
        "statestore",
        "state.redis",
        """\
        - name: redisHost
          value: localhost:6379
        - name: actorStateStore
          value: "true"
        """,
    )
    result = _run(["run", "-a", "x", "--resources-path", str(resources), "--", "true"], tmp_path)
    assert result.returncode == 1
    assert "is state.redis; tether stores workflows in state.sqlite or state.postgresql" in (
        result.stderr
    )


def test_a_postgresql_actor_store_component_selects_that_database(tmp_path: Path) -> None:
    resources = tmp_path / "components"
    _component(
        resources,
        "statestore",
        "state.postgresql",
        """\
        - name: connectionString
          value: "host=db.internal user=dapr password=s3cret port=6432 database=orders"
        - name: actorStateStore
          value: "true"
        """,
    )
    found = daprfiles.actor_store(daprfiles.load_components([resources]), "x")
    assert found is not None and found.component.name == "statestore"
    assert found.url == "postgresql://dapr:s3cret@db.internal:6432/orders"


def test_dapr_init_leftovers_never_stop_tether(tmp_path: Path) -> None:
    # What `dapr init` leaves: a Redis actor state store in ~/.dapr/components.
    _component(
        tmp_path / ".dapr" / "components",
        "statestore",
        "state.redis",
        """\
        - name: redisHost
          value: localhost:6379
        - name: actorStateStore
          value: "true"
        """,
    )
    # ... and the Configuration `dapr init` writes, which traces to Zipkin.
    (tmp_path / ".dapr" / "config.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: dapr.io/v1alpha1
            kind: Configuration
            metadata:
              name: daprConfig
            spec:
              tracing:
                samplingRate: "1"
                zipkin:
                  endpointAddress: http://localhost:9411/api/v2/spans
            """
        )
    )
    result = _run(["run", "-a", "x", "--", sys.executable, "-c", ""], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if ".dapr/components" in line]
    assert len(lines) == 1 and "using the default store" in lines[0], result.stderr
    assert f"store: SQLite file {tmp_path / 'tether.db'} (default)" in result.stderr
    assert f"using the Dapr Configuration {tmp_path / '.dapr' / 'config.yaml'}" in result.stderr
    assert "spec.tracing.zipkin is not used: tether exports traces over OTLP only" in (
        result.stderr
    )


def test_a_broken_default_dapr_configuration_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / ".dapr").mkdir()
    (tmp_path / ".dapr" / "config.yaml").write_text("spec: [unclosed\n")
    result = _run(["run", "-a", "x", "--", sys.executable, "-c", ""], tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"not using {tmp_path / '.dapr' / 'config.yaml'} (where dapr run looks)" in (
        result.stderr
    )


def test_a_supported_store_in_dapr_components_is_used(tmp_path: Path) -> None:
    db = tmp_path / "dapr-state.db"
    _component(
        tmp_path / ".dapr" / "components",
        "statestore",
        "state.sqlite",
        f"""\
        - name: connectionString
          value: "file:{db}?_pragma=busy_timeout(5000)"
        - name: actorStateStore
          value: "true"
        """,
    )
    result = _run(["run", "-a", "x", "--", sys.executable, "-c", ""], tmp_path)
    assert result.returncode == 0, result.stderr
    assert db.is_file()
    assert "where dapr run looks" in result.stderr


def test_store_urls_relative_and_absolute(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    rel = _run(["run", "-a", "r", "--store", "sqlite:orders.db", "--", "true"], tmp_path, cwd=work)
    assert rel.returncode == 0, rel.stderr
    assert (work / "orders.db").is_file()
    assert f"store: SQLite file {work / 'orders.db'} (--store)" in rel.stderr
    absolute = tmp_path / "abs.db"
    out = _run(["run", "-a", "r", "--store", f"sqlite://{absolute}", "--", "true"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert absolute.is_file()


def test_bad_configuration_values_name_their_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "kind: Configuration\nspec:\n  workflow:\n    maxConcurrentActivityInvocations: lots\n"
    )
    result = _run(["run", "-a", "x", "--config", str(config), "--", "true"], tmp_path)
    assert result.returncode == 1
    assert "spec.workflow.maxConcurrentActivityInvocations: 'lots'" in result.stderr
    config.write_text(
        "kind: Configuration\nspec:\n  workflow:\n    stateRetentionPolicy:\n"
        "      completed: soon\n"
    )
    result = _run(["run", "-a", "x", "--config", str(config), "--", "true"], tmp_path)
    assert result.returncode == 1
    assert "spec.workflow.stateRetentionPolicy.completed: 'soon' is not a duration" in result.stderr
