"""Logging setup. Only the CLI calls :func:`configure`; library code just logs under ``tether``."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

# Fields a record about one instance carries (``extra=``): JSON lines emit them as keys, text
# lines append them as key=value.
INSTANCE_FIELDS = ("instance_id", "app_id", "trace_id")


def _instance_fields(record: logging.LogRecord) -> dict[str, str]:
    return {k: v for k in INSTANCE_FIELDS if (v := getattr(record, k, None)) is not None}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_instance_fields(record),
        }
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _instance_fields(record)
        if not fields:
            return text
        return text + " " + " ".join(f"{k}={v}" for k, v in fields.items())


def configure(
    level: str = "INFO",
    *,
    as_json: bool = False,
    file: str | None = None,
    prefix: str = "",
    stream: TextIO | None = None,
) -> None:
    root = logging.getLogger("tether")
    root.handlers.clear()
    handler: logging.Handler
    handler = logging.FileHandler(file) if file else logging.StreamHandler(stream or sys.stderr)
    if as_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _TextFormatter(
                f"{prefix}%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"
            )
        )
    root.addHandler(handler)
    try:
        root.setLevel(level.upper())
    except ValueError:
        from tether.errors import ConfigError

        raise ConfigError(
            f"log_level: {level!r} is not one of debug, info, warning, error"
        ) from None
    root.propagate = False
