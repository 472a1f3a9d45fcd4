"""``tether scheduler …``: workflow reminders (durable timers, scheduled starts), like
``dapr scheduler …``.

Dapr keeps workflow reminders in its scheduler; tether keeps them as inbox rows that become
visible later: a durable timer is a ``timerFired`` message, named
``workflow/<app>/<instance>/timer-<timerId>``; a scheduled start is the pending
``executionStarted`` message, named ``workflow/<app>/<instance>/start-<unix nanos>``. Commands go
through the running tethers' HTTP API (:mod:`tether.cli.reminders`), or, with
``--connection-string`` and no tether on that store, through the engine's operations here.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from tether.cli import reminders
from tether.cli.durations import from_ns, rfc3339, signed_offset
from tether.cli.output import (
    CliError,
    Progress,
    guarded,
    help_for,
    print_document,
    print_table,
    success,
    warn,
)
from tether.cli.reminders import Reminder, ReminderSource
from tether.engine.admin import EXPORT_FORMAT

FILTERS = ["all", "workflow", "activity", "app", "actor"]
SHORT = ["NAME", "BEGIN", "COUNT", "LAST TRIGGER"]
WIDE = [
    "NAMESPACE",
    "NAME",
    "BEGIN",
    "EXPIRATION",
    "SCHEDULE",
    "DUE TIME",
    "TTL",
    "REPEATS",
    "COUNT",
    "LAST TRIGGER",
]


def _record(r: Reminder, namespace: str, now_ns: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.name,
        "namespace": namespace,
        "appID": r.app_id,
        "instanceID": r.instance_id,
        "type": r.kind,
        "begin": signed_offset(r.due_at - now_ns),
        "dueTime": rfc3339(from_ns(r.due_at)),
        "count": 0,
    }
    if r.timer_id is not None:
        out["timerID"] = r.timer_id
    if r.execution_id:
        out["executionID"] = r.execution_id
    return out


def _rows(found: list[Reminder], wide: bool, namespace: str, now_ns: int) -> list[list[str]]:
    out: list[list[str]] = []
    for r in found:
        begin = signed_offset(r.due_at - now_ns)
        if wide:
            due = rfc3339(from_ns(r.due_at))
            out.append([namespace, r.name, begin, "", "", due, "", "1", "0", ""])
        else:
            out.append([r.name, begin, "0", ""])
    return out


def _show(found: list[Reminder], fmt: str, namespace: str) -> None:
    now = time.time_ns()
    if fmt in ("json", "yaml"):
        print_document([_record(r, namespace, now) for r in found], fmt)
        return
    wide = fmt == "wide"
    print_table(WIDE if wide else SHORT, _rows(found, wide, namespace, now))


def cmd_list(args: argparse.Namespace) -> int:
    found: list[Reminder] = []
    if args.filter in ("all", "workflow"):
        found = reminders.load(args)
    if not found and args.output not in ("json", "yaml"):
        print_table(WIDE if args.output == "wide" else SHORT, [])
        return 0
    _show(found, args.output, args.namespace)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    _show(reminders.find(args, args.names), args.output, args.namespace)
    return 0


def _delete(found: list[Reminder]) -> int:
    progress = Progress("deleting", len(found))
    try:
        count = reminders.delete(found)
        progress.step(len(found))
    finally:
        progress.close()
    return count


def cmd_delete(args: argparse.Namespace) -> int:
    found = reminders.find(args, args.names)
    _delete(found)
    for r in found:
        success(f"Deleted reminder {r.name!r}")
    return 0


def cmd_delete_all(args: argparse.Namespace) -> int:
    prefix: str = args.prefix
    if not prefix:
        raise CliError(
            "a prefix is required, e.g. `workflow/<app>`, `workflow/<app>/<id>` or `all`"
        )
    found = reminders.under(reminders.load(args), prefix)
    count = _delete(found) if found else 0
    success(f"Deleted {count} reminder(s) matching {prefix!r}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    items = [i for s in reminders.sources(args) for i in s.export(args.app_id)]
    items.sort(key=lambda i: (i["visibleAt"], i["name"]))
    document = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exportedAt": rfc3339(from_ns(time.time_ns())),
        "reminders": items,
    }
    path = Path(args.output_file)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(document, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    success(f"Exported {len(items)} reminder(s) to {path}")
    return 0


def _read_export(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise CliError(f"{path} is not a tether scheduler export") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise CliError(f"{path} is not a tether scheduler export")
    if document.get("version") != 1:
        raise CliError(f"{path}: export version {document.get('version')!r} is not supported")
    items = document.get("reminders")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CliError(f"{path}: no reminders list")
    return items


def cmd_import(args: argparse.Namespace) -> int:
    items = _read_export(Path(args.input_file))
    if args.app_id:
        items = [i for i in items if i.get("appID") == args.app_id]
    found = reminders.sources(args)
    by_source: dict[int, tuple[ReminderSource, list[dict[str, Any]]]] = {}
    for item in items:
        # The tether that runs the reminder's app takes it; any other on a shared store would do.
        source = next((s for s in found if s.serves(str(item.get("appID")))), found[0])
        by_source.setdefault(id(source), (source, []))[1].append(item)
    restored = 0
    skipped: list[str] = []
    progress = Progress("importing", len(items))
    try:
        for source, batch in by_source.values():
            try:
                n, s = source.restore(batch)
            except CliError as exc:
                raise CliError(f"{args.input_file}: {exc.message}") from None
            restored += n
            skipped.extend(s)
            progress.step(len(batch))
    finally:
        progress.close()
    for reason in skipped:
        warn(reason)
    success(f"Imported {restored} reminder(s) from {args.input_file}")
    return 0


# -- registration ------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--app-id", default=None, help="only this app's reminders")
    parser.add_argument("-n", "--namespace", default="default", help="namespace shown in output")
    parser.add_argument(
        "-c",
        "--connection-string",
        default=None,
        help="the tether store to use (a SQLite path or sqlite:/// URL): through the tether "
        "running on it, or directly when none is; default: the running tethers",
    )
    parser.add_argument(
        "--api-token",
        default=None,
        help="the tethers' API token (default: $DAPR_API_TOKEN); required when they run with one",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("scheduler", help="workflow reminders (like `dapr scheduler`)")
    parser.set_defaults(func=help_for(parser))
    cmds = parser.add_subparsers(dest="scheduler_command", metavar="COMMAND")

    p = cmds.add_parser("list", help="list reminders")
    p.add_argument("--filter", default="all", choices=FILTERS, help="which reminders")
    p.add_argument("-o", "--output", default="short", choices=["short", "wide", "yaml", "json"])
    _common(p)
    p.set_defaults(func=guarded(cmd_list))

    p = cmds.add_parser("get", help="show reminders by name")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-o", "--output", default="short", choices=["short", "wide", "yaml", "json"])
    _common(p)
    p.set_defaults(func=guarded(cmd_get))

    p = cmds.add_parser("delete", help="delete reminders by name")
    p.add_argument("names", nargs="+", metavar="NAME")
    _common(p)
    p.set_defaults(func=guarded(cmd_delete))

    p = cmds.add_parser(
        "delete-all", help="delete every reminder under a prefix (workflow/<app>[/<id>], or all)"
    )
    p.add_argument("prefix", metavar="PREFIX")
    _common(p)
    p.set_defaults(func=guarded(cmd_delete_all))

    p = cmds.add_parser("export", help="write every reminder to a file")
    p.add_argument("-o", "--output-file", required=True, metavar="FILE")
    _common(p)
    p.set_defaults(func=guarded(cmd_export))

    p = cmds.add_parser("import", help="restore reminders from an export file")
    p.add_argument("-f", "--input-file", required=True, metavar="FILE")
    _common(p)
    p.set_defaults(func=guarded(cmd_import))
