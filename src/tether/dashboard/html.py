"""HTML building with escaping by default, the page layout, and how values are shown.

Every value goes through :func:`esc` unless it is already :class:`Safe` (markup this package
built). Templates are ``str.format`` strings whose placeholders are all escaped: :func:`fmt`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

STATUS_ORDER = (
    "RUNNING",
    "PENDING",
    "SUSPENDED",
    "STALLED",
    "COMPLETED",
    "FAILED",
    "TERMINATED",
    "CANCELED",
    "CONTINUED_AS_NEW",
)


class Safe(str):
    """Markup that is already escaped."""

    __slots__ = ()


MISSING = Safe('<span class="muted">—</span>')


def esc(value: Any) -> Safe:
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def fmt(template: str, **values: Any) -> Safe:
    return Safe(template.format(**{k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(p) for p in parts))


def when(ns: int | None) -> Safe:
    """A time as UTC, to the millisecond, with the full ISO value in the title."""
    if not ns:
        return Safe('<span class="muted">—</span>')
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    iso = moment.isoformat()  # digits and "-:.+T" only: nothing to escape
    # Cut from the ISO text rather than formatted again: a history page shows 10,000s of times.
    shown = f"{iso[:10]} {iso[11:19]}.{moment.microsecond // 1000:03d}"
    return Safe(f'<time datetime="{iso}">{shown}</time>')


def duration(ns: int | None) -> str:
    if ns is None:
        return "—"
    if ns < 0:
        return "-" + duration(-ns)
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    seconds = ns / 1e9
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} m"
    return f"{hours // 24} d {hours % 24} h"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def status_badge(name: str) -> Safe:
    return fmt('<span class="badge s-{cls}">{name}</span>', cls=name.lower(), name=name)


def payload(text: str | None, *, limit: int = 80, pretty: bool = True) -> Safe:
    """A payload: inline when short, else expandable (JSON indented; with ``pretty=False`` the
    page's script indents it when opened, which keeps long tables cheap to render)."""
    if text is None:
        return MISSING
    shown = text
    if pretty and text[:1] in "{[":
        try:
            shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            shown = text
    # An object or array opens to its indented form (unless it is trivially short, like {}).
    structured = text[:1] in "{[" and (not pretty or shown != text)
    if len(text) <= limit and not structured:
        return Safe('<code class="payload">' + html.escape(text) + "</code>")
    short = text[:limit] + ("…" if len(text) > limit else "")
    return Safe(
        '<details class="payload"><summary><code>' + html.escape(short) + "</code></summary>"
        + ("<pre>" if pretty else '<pre data-json="1">') + html.escape(shown) + "</pre></details>"
    )


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], *, cls: str = "") -> Safe:
    head = join(fmt("<th>{h}</th>", h=h) for h in headers)
    body = join(
        Safe("<tr>" + join(fmt("<td>{c}</td>", c=c) for c in row) + "</tr>") for row in rows
    )
    return fmt(
        '<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        cls=cls,
        head=head,
        body=body,
    )


NAV = (("instances", "Instances"), ("workflows", "Workflows"), ("operations", "Operations"))


def page(
    title: str,
    body: Safe,
    *,
    section: str,
    csrf: str,
    source_note: str,
    logout: bool,
    live: bool = False,
) -> str:
    nav = join(
        fmt(
            '<a href="/dashboard/{key}"{cur}>{label}</a>',
            key=key,
            label=label,
            cur=Safe(' aria-current="page"') if key == section else Safe(""),
        )
        for key, label in NAV
    )
    logout_form = (
        fmt(
            '<form method="post" action="/dashboard/logout" class="logout">'
            '<input type="hidden" name="csrf" value="{csrf}"><button>Sign out</button></form>',
            csrf=csrf,
        )
        if logout
        else Safe("")
    )
    return fmt(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="csrf-token" content="{csrf}">'
        "<title>{title} · tether</title><link rel=\"icon\" href=\"data:,\">"
        '<link rel="stylesheet" href="/dashboard/static/dashboard.css">'
        '<script src="/dashboard/static/dashboard.js" defer></script>'
        '</head><body{live}><header><a class="brand" href="/dashboard/">tether</a>'
        "<nav>{nav}</nav>"
        '<span class="source">{note}</span>{logout}</header>'
        '<main id="main">{body}</main></body></html>',
        csrf=csrf,
        title=title,
        live=Safe(' data-live="1"') if live else Safe(""),
        nav=nav,
        note=source_note,
        logout=logout_form,
        body=body,
    )
