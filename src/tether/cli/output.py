"""What the ``workflow`` and ``scheduler`` commands print: status lines with the Dapr CLI's
prefixes, borderless left-aligned tables, JSON/YAML documents, and TTY-only colour and progress."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import yaml

from tether.core.ids import escaped
from tether.errors import TetherError

SUCCESS = "✅  "
FAILURE = "❌  "
INFO = "ℹ️  "  # noqa: RUF001 - the Dapr CLI's info marker
WARNING = "⚠  "

_COLOURS = {
    "COMPLETED": "32",  # green
    "RUNNING": "36",  # cyan
    "PENDING": "36",
    "SUSPENDED": "33",  # yellow
    "STALLED": "33",
    "FAILED": "31",  # red
    "TERMINATED": "31",
    "CANCELED": "31",
}


class CliError(TetherError):
    """A user-facing failure: printed as one ``❌  <message>`` line on stderr, exit code 1."""


def _prefix(marker: str) -> str:
    return "" if os.name == "nt" else marker


# Messages and table cells carry untrusted strings (instance IDs, names, payloads, reasons):
# unprintable characters are escaped; messages keep their own line breaks.
def _line(message: str) -> str:
    return escaped(message, keep="\n")


def success(message: str) -> None:
    print(_prefix(SUCCESS) + _line(message), file=sys.stdout, flush=True)


def info(message: str, stream: TextIO | None = None) -> None:
    print(_prefix(INFO) + _line(message), file=stream or sys.stdout, flush=True)


def warn(message: str) -> None:
    print(_prefix(WARNING) + _line(message), file=sys.stderr, flush=True)


def failure(message: str) -> None:
    print(_prefix(FAILURE) + _line(message), file=sys.stderr, flush=True)


def colour_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled and text else text


def status_colour(status: str) -> str | None:
    return _COLOURS.get(status)


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    drop_blank: bool = False,
    blank: str = "",
    colour_column: str | None = None,
    stream: TextIO | None = None,
) -> str:
    """A borderless, left-aligned table (three spaces between columns) like the Dapr CLI's.

    ``drop_blank`` removes columns whose every cell is empty (or equals ``blank``). On a TTY the
    header is bold and the ``colour_column`` cells are coloured by status.
    """
    body = [[escaped(cell) for cell in r] for r in rows]
    keep = list(range(len(headers)))
    if drop_blank and body:
        keep = [i for i in keep if any(r[i] not in ("", blank) for r in body)]
    heads = [headers[i] for i in keep]
    cells = [[r[i] for i in keep] for r in body]
    widths = [len(h) for h in heads]
    for r in cells:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    colour = colour_enabled(stream)
    colour_at = heads.index(colour_column) if colour_column in heads else -1

    def line(values: list[str], header: bool) -> str:
        parts: list[str] = []
        for i, value in enumerate(values):
            last = i == len(values) - 1
            pad = "" if last else " " * (widths[i] - len(value) + 3)
            shown = value
            if header:
                shown = paint(value, "1", colour)
            elif i == colour_at and (code := status_colour(value)):
                shown = paint(value, code, colour)
            parts.append(shown + pad)
        return "".join(parts).rstrip()

    out = [line(heads, True)]
    out.extend(line(r, False) for r in cells)
    return "\n".join(out)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], **kwargs: Any) -> None:
    print(render_table(headers, rows, **kwargs), flush=True)


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if _printable_lines(text):
            return text
        # Outside strings JSON here holds only printable characters and newlines, so every other
        # unprintable character is inside a string: write it as a JSON escape.
        return "".join(
            c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text
        )
    if fmt == "yaml":
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
        if not _printable_lines(text):
            # YAML leaves some unprintable characters (e.g. bidi overrides) as they are unless
            # every non-ASCII character is escaped.
            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        return text.rstrip("\n")
    raise CliError(f"unknown output format {fmt!r}")


def _printable_lines(text: str) -> bool:
    return all(line.isprintable() for line in text.split("\n"))


def print_document(data: Any, fmt: str) -> None:
    print(dump(data, fmt), flush=True)


class Progress:
    """``label: done/total`` redrawn on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = bool(getattr(sys.stderr, "isatty", lambda: False)()) and total > 1

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def help_for(parser: Any) -> Callable[[Any], int]:
    """A command group run without a subcommand: print its help, exit 2."""

    def show(_args: Any) -> int:
        parser.print_help()
        return 2

    return show


def guarded(fn: Callable[[Any], int]) -> Callable[[Any], int]:
    """Run a command; a :class:`TetherError` becomes ``❌  <message>`` on stderr and exit 1."""

    def run(args: Any) -> int:
        try:
            return fn(args)
        except TetherError as exc:
            failure(exc.message)
            return 1

    run.__name__ = getattr(fn, "__name__", "command")
    run.__doc__ = fn.__doc__
    return run
