"""Where a PostgreSQL store lives: a connection string (URL or libpq keywords) and a schema.

Both forms Dapr's components use are accepted::

    postgresql://user:pass@host:5432/db?sslmode=disable&schema=orders
    host=localhost user=dapr password=dapr dbname=dapr port=5432 sslmode=disable schema=orders

``schema`` (also spelt ``table_prefix``, Dapr's ``tableName`` notion) is tether's own option, not
libpq's: the store's tables live in that PostgreSQL schema (default ``tether``), so several tether
deployments can share one database. It is removed before the rest reaches the driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import zip_longest
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tether.errors import ConfigError

DEFAULT_SCHEMA = "tether"
_OPTION_KEYS = ("schema", "table_prefix")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
# One libpq keyword=value pair; a value is a bare word or a single-quoted string with \' escapes.
_KEYWORD = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


@dataclass(frozen=True, slots=True)
class PgTarget:
    conninfo: str  # for the driver, without tether's own options
    schema: str


def parse_target(conninfo: str, schema: str | None = None) -> PgTarget:
    """Split tether's options off a connection string; ``schema`` overrides the string's."""
    text = conninfo.strip()
    if text.startswith(("postgres://", "postgresql://")):
        driver, found = _split_url(text)
    else:
        driver, found = _split_keywords(text)
    chosen = schema or found or DEFAULT_SCHEMA
    if not _SCHEMA_NAME.fullmatch(chosen):
        raise ConfigError(
            f"store: schema {chosen!r} must be lower-case letters, digits and _ (at most 48), "
            "starting with a letter or _"
        )
    return PgTarget(conninfo=driver, schema=chosen)


def with_schema(conninfo: str, schema: str) -> str:
    """The connection string with tether's ``schema`` option set (replacing one it had)."""
    target = parse_target(conninfo, schema)
    text = target.conninfo
    if text.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(text)
        query = [*parse_qsl(parts.query, keep_blank_values=True), ("schema", target.schema)]
        return urlunsplit(parts._replace(query=urlencode(query)))
    return f"{text} schema={target.schema}".strip()


def _split_url(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [v for k, v in query if k in _OPTION_KEYS]
    rest = [(k, v) for k, v in query if k not in _OPTION_KEYS]
    return urlunsplit(parts._replace(query=urlencode(rest))), (found[-1] if found else None)


def _split_keywords(text: str) -> tuple[str, str | None]:
    pairs: list[str] = []
    found: str | None = None
    pos = 0
    while pos < len(text):
        match = _KEYWORD.match(text, pos)
        if match is None or match.end() == pos:
            rest = text[pos:]
            if rest.strip():
                raise ConfigError(
                    f"store: cannot read the PostgreSQL connection string near {rest[:20]!r}; "
                    "write key=value pairs separated by spaces"
                )
            break
        key, value = match[1], match[2]
        if key in _OPTION_KEYS:
            found = value.strip("'")
        else:
            pairs.append(f"{key}={value}")
        pos = match.end()
    return " ".join(pairs), found


def describe(conninfo: str) -> str:
    """``user@host:port/dbname`` of a connection string, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(conninfo)
    except Exception:  # an unreadable string is reported by connect, with the driver's reason
        return "postgresql (unreadable connection string)"
    # Several hosts (tried in turn by libpq) each with its port, or one port for all.
    hosts = str(params.get("host") or params.get("hostaddr") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    netloc = ",".join(
        f"{host or 'localhost'}:{port or '5432'}"
        for host, port in zip_longest(hosts, ports, fillvalue="")
    )
    user = params.get("user")
    db = params.get("dbname") or user or ""
    return f"postgresql://{f'{user}@' if user else ''}{netloc}/{db}"
