"""Go-style durations (``720h``, ``5m30s``, ``1.5h``), RFC 3339 times, and the humanised forms
the Dapr CLI prints (Kubernetes-style ages like ``5m``/``2d``, elapsed times like ``+50.0h``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tether.cli.output import CliError

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """A Go ``time.ParseDuration`` string as nanoseconds; raises ``ValueError``."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty duration")
    sign = 1
    if raw[0] in "+-":
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:]
    if raw == "0":
        return 0
    pos = 0
    total = 0.0
    while pos < len(raw):
        match = _PART.match(raw, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {text!r}")
    return sign * round(total)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (or a bare date / date-time, read as UTC)."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    # Python < 3.11 fromisoformat limits aside, trim sub-microsecond digits Go allows.
    raw = re.sub(r"(\.\d{6})\d+", r"\1", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"invalid time {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def duration_or_time(text: str, *, past: bool, flag: str, now: datetime | None = None) -> datetime:
    """``--filter-max-age``/``--all-older-than``/``--start-time``: a duration from now (back in
    time when ``past``) or an absolute timestamp."""
    now = now or datetime.now(UTC)
    try:
        nanos = parse_go_duration(text)
    except ValueError:
        pass
    else:
        delta = timedelta(microseconds=nanos / 1000)
        return now - delta if past else now + delta
    try:
        return parse_time(text)
    except ValueError:
        raise CliError(
            f"invalid value for {flag}: {text!r} is neither a duration (e.g. 300ms, 24h, 2h45m) "
            "nor an RFC 3339 timestamp (e.g. 2024-12-25T10:00:00Z)"
        ) from None


def to_ns(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)


def rfc3339(value: datetime | None, *, seconds_only: bool = False) -> str:
    if value is None:
        return ""
    value = value.astimezone(UTC)
    if seconds_only or value.microsecond == 0:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human_age(seconds_total: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``45s``, ``5m30s``, ``3h``, ``2d``, ``1y30d``."""
    if seconds_total < -1:
        return "<invalid>"
    if seconds_total < 0:
        return "0s"
    seconds = int(seconds_total)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 - (hours // 24 // 365) * 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def human_elapsed(nanos: int) -> str:
    """The Dapr CLI's elapsed form: ``850ns``, ``12.5µs``, ``3.2ms``, ``1.25s``, ``5.0m``,
    ``50.0h``; empty for zero."""
    if nanos == 0:
        return ""
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < 1_000:
        text = f"{n}ns"
    elif n < 1_000_000:
        text = f"{n / 1_000:.1f}µs"
    elif n < 1_000_000_000:
        text = f"{n / 1_000_000:.1f}ms"
    elif n < 60 * 1_000_000_000:
        text = f"{n / 1_000_000_000:.2f}s"
    elif n < 3600 * 1_000_000_000:
        text = f"{n / 60_000_000_000:.1f}m"
    else:
        text = f"{n / 3_600_000_000_000:.1f}h"
    return sign + text


def signed_offset(nanos: int) -> str:
    """Scheduler BEGIN: ``+50.0h`` in the future, ``-3.20s`` in the past."""
    if nanos >= 0:
        return "+" + (human_elapsed(nanos) or "0s")
    return human_elapsed(nanos)
