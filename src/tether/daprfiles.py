"""Dapr's own resource files: component YAML (``--resources-path``) and a ``Configuration``
(``--config``), read into what tether uses of them.

* Components: the actor state store (``actorStateStore: "true"``) selects tether's store. A
  ``state.sqlite`` one is a SQLite file (``connectionString``, relative to the working directory
  as for daprd); ``state.postgresql`` maps to a PostgreSQL URL. Metadata values come from
  ``value``, ``envRef``, or a ``secretKeyRef`` into a ``secretstores.local.env`` store named by
  ``auth.secretStore`` (the secret's name is the environment variable). Components scoped to
  other apps are skipped, as daprd does.
* Configuration: ``spec.workflow`` (concurrency limits, state retention policy) and
  ``spec.tracing`` (sampling rate, OTLP/Zipkin endpoint).

Every problem is a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tether.cli.durations import parse_go_duration
from tether.errors import ConfigError

SUPPORTED_ACTOR_STORES = ("state.sqlite", "state.postgresql")
ENV_SECRET_STORE = "secretstores.local.env"


def dapr_components_dir() -> Path:
    """Where ``dapr run`` looks for components when given no ``--resources-path``."""
    return Path.home() / ".dapr" / "components"


def dapr_default_config() -> Path:
    """The Configuration ``dapr run`` uses when given no ``--config`` (``dapr init`` writes it)."""
    return Path.home() / ".dapr" / "config.yaml"


@dataclass(frozen=True)
class Component:
    name: str
    type: str
    source: Path
    metadata: dict[str, Any] = field(default_factory=dict)  # name -> the raw metadata item
    scopes: tuple[str, ...] = ()
    secret_store: str | None = None

    @property
    def is_actor_store(self) -> bool:
        raw = self.metadata.get("actorStateStore", {}).get("value", "")
        return str(raw).strip().lower() == "true"


def _documents(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return [d for d in docs if isinstance(d, dict)]


def load_components(paths: Iterable[Path | str]) -> list[Component]:
    """Every ``kind: Component`` in the YAML files of the given folders (or files)."""
    found: list[Component] = []
    for base in map(Path, paths):
        if base.is_dir():
            files = sorted(p.resolve() for p in base.iterdir() if p.suffix in (".yaml", ".yml"))
        elif base.is_file():
            files = [base.resolve()]
        else:
            raise ConfigError(f"resources_path: {base} is not a folder or a file")
        for path in files:
            for doc in _documents(path):
                if doc.get("kind") != "Component":
                    continue
                found.append(_component(doc, path))
    return found


def _component(doc: Mapping[str, Any], path: Path) -> Component:
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise ConfigError(f"{path}: a Component needs 'metadata' and 'spec' mappings")
    name = str(meta.get("name") or "")
    kind = str(spec.get("type") or "")
    if not name or not kind:
        raise ConfigError(f"{path}: a Component needs metadata.name and spec.type")
    items: dict[str, Any] = {}
    for item in spec.get("metadata") or []:
        if isinstance(item, dict) and item.get("name"):
            items[str(item["name"])] = item
    auth = doc.get("auth") or {}
    secret_store = auth.get("secretStore") if isinstance(auth, dict) else None
    return Component(
        name=name,
        type=kind,
        source=path,
        metadata=items,
        scopes=tuple(str(s) for s in doc.get("scopes") or ()),
        secret_store=str(secret_store) if secret_store else None,
    )


def metadata_value(component: Component, key: str, components: list[Component]) -> str | None:
    """A metadata item's value: plain, from ``envRef``, or from a local.env ``secretKeyRef``."""
    item = component.metadata.get(key)
    if item is None:
        return None
    where = f"{component.source}: component '{component.name}' metadata '{key}'"
    if item.get("envRef"):
        variable = str(item["envRef"])
        if variable not in os.environ:
            raise ConfigError(f"{where}: envRef {variable} is not set in the environment")
        return os.environ[variable]
    ref = item.get("secretKeyRef")
    if ref:
        store = next((c for c in components if c.name == component.secret_store), None)
        if store is None or store.type != ENV_SECRET_STORE:
            raise ConfigError(
                f"{where}: secretKeyRef needs auth.secretStore naming a {ENV_SECRET_STORE} "
                "component in the resources path (tether reads secrets from the environment "
                "only); or use envRef"
            )
        variable = str(ref.get("name") or "")
        if variable not in os.environ:
            raise ConfigError(f"{where}: secret {variable!r} is not set in the environment")
        return os.environ[variable]
    value = item.get("value")
    return None if value is None else str(value)


@dataclass(frozen=True)
class ActorStore:
    url: str
    component: Component


def actor_store(components: list[Component], app_id: str) -> ActorStore | None:
    """The store URL of the app's actor state store component; None when there is none.

    Raises ConfigError for an actor store tether cannot use, naming the supported types."""
    mine = [c for c in components if c.is_actor_store and (not c.scopes or app_id in c.scopes)]
    if not mine:
        return None
    if len(mine) > 1:
        names = ", ".join(f"'{c.name}' ({c.source})" for c in mine)
        raise ConfigError(f"resources_path: more than one actor state store: {names}")
    component = mine[0]
    if component.type not in SUPPORTED_ACTOR_STORES:
        raise ConfigError(
            f"{component.source}: actor state store '{component.name}' is {component.type}; "
            f"tether stores workflows in {' or '.join(SUPPORTED_ACTOR_STORES)}"
        )
    connection = metadata_value(component, "connectionString", components)
    if not connection:
        raise ConfigError(
            f"{component.source}: component '{component.name}' needs a connectionString"
        )
    if component.type == "state.sqlite":
        return ActorStore(_sqlite_url(component, connection), component)
    return ActorStore(_postgres_url(connection), component)


def _sqlite_url(component: Component, connection: str) -> str:
    # daprd accepts a path or a "file:" URI; options after '?' are daprd's, not the file's.
    path = connection.removeprefix("file:").split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(
            f"{component.source}: component '{component.name}': an in-memory SQLite database "
            "cannot hold workflows across restarts; give a file path as connectionString"
        )
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def _postgres_url(connection: str) -> str:
    if connection.startswith(("postgres://", "postgresql://")):
        return connection
    # The key=value form: host=localhost user=postgres password=x port=5432 database=dapr
    pairs = dict(part.split("=", 1) for part in connection.split() if "=" in part)
    user = urllib.parse.quote(pairs.pop("user", ""), safe="")
    password = urllib.parse.quote(pairs.pop("password", ""), safe="")
    hosts = pairs.pop("host", "localhost").split(",")
    ports = pairs.pop("port", "5432").split(",")
    if len(ports) == 1:  # one port for every host (host=a,b port=5432), as libpq reads it
        ports *= len(hosts)
    netloc = ",".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=False))
    database = pairs.pop("database", pairs.pop("dbname", ""))
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = f"?{urllib.parse.urlencode(pairs)}" if pairs else ""
    return f"postgresql://{auth}{netloc}/{database}{query}"


# -- Configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DaprConfiguration:
    source: Path
    max_concurrent_workflows: int | None = None
    max_concurrent_activities: int | None = None
    # Seconds a terminal instance is kept, by status name ("any" for anyTerminal).
    retention: dict[str, float] = field(default_factory=dict)
    tracing_sampling_rate: float | None = None
    tracing_endpoint: str | None = None
    tracing_protocol: str | None = None  # "grpc" | "http" | "zipkin"
    tracing_secure: bool = False
    tracing_stdout: bool = False


_RETENTION_KEYS = {
    "anyTerminal": "any",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "terminated": "TERMINATED",
}


def load_configuration(path: Path | str) -> DaprConfiguration:
    source = Path(path)
    docs = [d for d in _documents(source) if d.get("kind", "Configuration") == "Configuration"]
    if not docs:
        raise ConfigError(f"{source}: no 'kind: Configuration' document")
    spec = docs[0].get("spec") or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: spec must be a mapping")
    workflow = _mapping(spec, "workflow", source)
    tracing = _mapping(spec, "tracing", source)
    retention: dict[str, float] = {}
    policy = _mapping(workflow, "stateRetentionPolicy", source, "spec.workflow.")
    for key, status in _RETENTION_KEYS.items():
        if key in policy:
            retention[status] = _duration(policy[key], source, f"stateRetentionPolicy.{key}")
    otel = _mapping(tracing, "otel", source, "spec.tracing.")
    zipkin = _mapping(tracing, "zipkin", source, "spec.tracing.")
    endpoint = otel.get("endpointAddress") or zipkin.get("endpointAddress")
    protocol = str(otel.get("protocol") or "grpc") if otel else ("zipkin" if zipkin else None)
    rate = tracing.get("samplingRate")
    return DaprConfiguration(
        source=source,
        max_concurrent_workflows=_count(workflow, "maxConcurrentWorkflowInvocations", source),
        max_concurrent_activities=_count(workflow, "maxConcurrentActivityInvocations", source),
        retention=retention,
        tracing_sampling_rate=None if rate in (None, "") else _rate(rate, source),
        tracing_endpoint=str(endpoint) if endpoint else None,
        tracing_protocol=protocol if endpoint else None,
        tracing_secure=bool(otel.get("isSecure", False)),
        tracing_stdout=bool(tracing.get("stdout", False)),
    )


def _mapping(parent: Mapping[str, Any], key: str, source: Path, prefix: str = "spec.") -> Any:
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {prefix}{key} must be a mapping")
    return value


def _count(workflow: Mapping[str, Any], key: str, source: Path) -> int | None:
    if key not in workflow:
        return None
    value = workflow[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{source}: spec.workflow.{key}: {value!r} is not a whole number >= 0")
    return value or None  # 0 means no limit, as in daprd


def _duration(value: Any, source: Path, key: str) -> float:
    try:
        nanos = parse_go_duration(str(value))
    except ValueError:
        raise ConfigError(
            f"{source}: spec.workflow.{key}: {value!r} is not a duration (e.g. 72h, 30m, 0s)"
        ) from None
    if nanos < 0:
        raise ConfigError(f"{source}: spec.workflow.{key}: {value!r} is negative")
    return nanos / 1e9


def _rate(value: Any, source: Path) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(
            f"{source}: spec.tracing.samplingRate: {value!r} is not a number from 0 to 1"
        )
    return rate
