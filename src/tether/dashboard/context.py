"""What every page handler gets: the source, the session's CSRF token, and input parsing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request

from tether.dashboard.html import Safe, fmt, page
from tether.dashboard.source import NO_ENGINE, Source
from tether.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Ctx:
    source: Source
    request: Request
    csrf: str
    logout: bool  # show "Sign out" (a token protects this dashboard)

    @property
    def can_act(self) -> bool:
        return self.source.engine is not None

    def page(self, title: str, body: Safe, *, section: str, live: bool = False) -> str:
        return page(
            title,
            body,
            section=section,
            csrf=self.csrf,
            source_note=self.source.note,
            logout=self.logout,
            live=live,
        )

    def read_only(self) -> Safe:
        return notice("info", NO_ENGINE)

    def csrf_field(self) -> Safe:
        return fmt('<input type="hidden" name="csrf" value="{c}">', c=self.csrf)


def parse_time(label: str, value: str | None) -> int | None:
    """A form time (``YYYY-MM-DDTHH:MM[:SS]``, UTC unless it says otherwise) as ns."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidArgument(
            f"{label}: {value!r} is not a time (use YYYY-MM-DDTHH:MM, in UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e6) * 1000


def time_input_value(ns: int | None) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def notice(kind: str, text: str) -> Safe:
    return fmt('<p class="notice {kind}" role="status">{text}</p>', kind=kind, text=text)
