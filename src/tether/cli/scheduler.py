"""``tether scheduler …``: workflow reminders (durable timers, scheduled starts) in the store.

Dapr keeps workflow reminders in its scheduler; tether keeps them as inbox rows that become
visible later: a durable timer is a ``timerFired`` message, named
``workflow/<app>/<instance>/timer-<timerId>``; a scheduled start is the pending
``executionStarted`` message, named ``workflow/<app>/<instance>/start-<unix nanos>``. Commands
work on the store directly; a running tether notices other processes' writes and rescans.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import pb, registry
from tether.cli import target
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
from tether.engine.convert import new_msg_id
from tether.engine.query import Query, TimerView, name_matches, timer_name
from tether.store import MessageRow, Store, Tx

EXPORT_FORMAT = "tether-scheduler-export"
FILTERS = ["all", "workflow", "activity", "app", "actor"]


@dataclass
class Reminder:
    timer: TimerView
    store_url: str

    @property
    def name(self) -> str:
        return self.timer.name

    def record(self, namespace: str, now_ns: int) -> dict[str, Any]:
        t = self.timer
        out: dict[str, Any] = {
            "name": t.name,
            "namespace": namespace,
            "appID": t.app_id,
            "instanceID": t.instance_id,
            "type": t.kind,
            "begin": signed_offset(t.due_at - now_ns),
            "dueTime": rfc3339(from_ns(t.due_at)),
            "count": 0,
        }
        if t.timer_id is not None:
            out["timerID"] = t.timer_id
        if t.execution_id:
            out["executionID"] = t.execution_id
        return out


def _load(urls: list[str], app_id: str | None) -> list[Reminder]:
    async def main() -> list[Reminder]:
        found: list[Reminder] = []
        for url in urls:
            store = target.open_cli_store(url)
            try:
                timers = await Query(store).timers(app_id)
            finally:
                await store.close()
            found.extend(Reminder(t, url) for t in timers)
        return found

    reminders = asyncio.run(main())
    return sorted(reminders, key=lambda r: (r.timer.due_at, r.name))


def _urls(args: argparse.Namespace) -> list[str]:
    return target.scheduler_store_urls(args.connection_string, args.app_id)


def _rows(reminders: list[Reminder], wide: bool, namespace: str, now_ns: int) -> list[list[str]]:
    out: list[list[str]] = []
    for r in reminders:
        begin = signed_offset(r.timer.due_at - now_ns)
        if wide:
            due = rfc3339(from_ns(r.timer.due_at))
            out.append([namespace, r.name, begin, "", "", due, "", "1", "0", ""])
        else:
            out.append([r.name, begin, "0", ""])
    return out


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


def _show(reminders: list[Reminder], fmt: str, namespace: str) -> None:
    now = time.time_ns()
    if fmt in ("json", "yaml"):
        print_document([r.record(namespace, now) for r in reminders], fmt)
        return
    wide = fmt == "wide"
    print_table(WIDE if wide else SHORT, _rows(reminders, wide, namespace, now))


def cmd_list(args: argparse.Namespace) -> int:
    reminders: list[Reminder] = []
    if args.filter in ("all", "workflow"):
        reminders = _load(_urls(args), args.app_id)
    if not reminders and args.output not in ("json", "yaml"):
        print_table(WIDE if args.output == "wide" else SHORT, [])
        return 0
    _show(reminders, args.output, args.namespace)
    return 0


def _find(args: argparse.Namespace, names: list[str]) -> list[Reminder]:
    by_name = {r.name: r for r in _load(_urls(args), args.app_id)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CliError(f"reminder {missing[0]!r} not found")
    return [by_name[n] for n in dict.fromkeys(names)]


def cmd_get(args: argparse.Namespace) -> int:
    _show(_find(args, args.names), args.output, args.namespace)
    return 0


def _delete(reminders: list[Reminder]) -> int:
    """Delete reminders' rows; a running tether notices the change and forgets them."""
    by_store: dict[str, list[int]] = {}
    for r in reminders:
        by_store.setdefault(r.store_url, []).append(r.timer.msg_id)

    async def main() -> int:
        deleted = 0
        progress = Progress("deleting", len(reminders))
        try:
            for url, ids in by_store.items():
                store = target.open_cli_store(url)
                try:
                    deleted += await store.write(functools.partial(_delete_rows, msg_ids=ids))
                finally:
                    await store.close()
                progress.step(len(ids))
        finally:
            progress.close()
        return deleted

    return asyncio.run(main())


def _delete_rows(tx: Tx, msg_ids: list[int]) -> int:
    existing = {m.msg_id for m in tx.list_timers(None)}
    present = [m for m in msg_ids if m in existing]
    tx.delete_messages(present)
    return len(present)


def cmd_delete(args: argparse.Namespace) -> int:
    reminders = _find(args, args.names)
    _delete(reminders)
    for r in reminders:
        success(f"Deleted reminder {r.name!r}")
    return 0


def cmd_delete_all(args: argparse.Namespace) -> int:
    prefix: str = args.prefix
    if not prefix:
        raise CliError(
            "a prefix is required, e.g. `workflow/<app>`, `workflow/<app>/<id>` or `all`"
        )
    reminders = [r for r in _load(_urls(args), args.app_id) if name_matches(r.name, prefix)]
    count = _delete(reminders) if reminders else 0
    success(f"Deleted {count} reminder(s) matching {prefix!r}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    reminders = _load(_urls(args), args.app_id)
    document = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exportedAt": rfc3339(from_ns(time.time_ns())),
        "reminders": [
            {
                "name": r.name,
                "appID": r.timer.app_id,
                "instanceID": r.timer.instance_id,
                "executionID": r.timer.execution_id,
                "visibleAt": r.timer.due_at,
                "order": r.timer.order,
                "event": base64.b64encode(r.timer.event).decode("ascii"),
            }
            for r in reminders
        ],
    }
    path = Path(args.output_file)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(document, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    success(f"Exported {len(reminders)} reminder(s) to {path}")
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
    if not isinstance(items, list):
        raise CliError(f"{path}: no reminders list")
    return items


def _import_store(args: argparse.Namespace, app_id: str) -> str:
    if args.connection_string:
        return target.store_url(args.connection_string)
    for entry in registry.running():
        if entry.app_id == app_id:
            return entry.store_url
    return _urls(args)[0]


def cmd_import(args: argparse.Namespace) -> int:
    items = _read_export(Path(args.input_file))
    by_store: dict[str, list[MessageRow]] = {}
    for item in items:
        try:
            row = MessageRow(
                msg_id=new_msg_id(),  # fresh IDs: a running engine forgets deleted ones for good
                instance_id=str(item["instanceID"]),
                app_id=str(item["appID"]),
                event=base64.b64decode(item["event"]),
                visible_at=int(item["visibleAt"]),
                execution_id=item.get("executionID"),
                order=int(item["order"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(f"{args.input_file}: malformed reminder entry ({exc})") from None
        if args.app_id and row.app_id != args.app_id:
            continue
        by_store.setdefault(_import_store(args, row.app_id), []).append(row)

    async def main() -> tuple[int, list[str]]:
        restored = 0
        skipped: list[str] = []
        progress = Progress("importing", sum(len(v) for v in by_store.values()))
        try:
            for url, rows in by_store.items():
                store: Store = target.open_cli_store(url)
                try:
                    n, s = await store.write(functools.partial(_restore, rows=rows))
                finally:
                    await store.close()
                restored += n
                skipped.extend(s)
                progress.step(len(rows))
        finally:
            progress.close()
        return restored, skipped

    restored, skipped = asyncio.run(main())
    for reason in skipped:
        warn(reason)
    success(f"Imported {restored} reminder(s) from {args.input_file}")
    return 0


def _restore(tx: Tx, rows: list[MessageRow]) -> tuple[int, list[str]]:
    """Insert reminders whose instance still waits for them; skip the rest with a reason."""
    existing = {timer_name(m) for m in tx.list_timers(None)}
    added: list[MessageRow] = []
    skipped: list[str] = []
    for row in rows:
        name = timer_name(row) or f"workflow/{row.app_id}/{row.instance_id}/?"
        instance = tx.get_instance(row.instance_id)
        if name in existing:
            skipped.append(f"{name}: already scheduled, skipped")
        elif instance is None:
            skipped.append(f"{name}: workflow instance no longer exists, skipped")
        elif instance.status in pb.TERMINAL_STATUSES:
            status = pb.STATUS_NAMES[instance.status]
            skipped.append(f"{name}: workflow instance is {status}, skipped")
        elif row.execution_id and row.execution_id != instance.execution_id:
            skipped.append(f"{name}: belongs to an earlier execution of the instance, skipped")
        else:
            added.append(row)
            existing.add(name)
    tx.add_messages(added)
    return len(added), skipped


# -- registration ------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--app-id", default=None, help="only this app's reminders")
    parser.add_argument("-n", "--namespace", default="default", help="namespace shown in output")
    parser.add_argument(
        "-c",
        "--connection-string",
        default=None,
        help="the tether store to use (a SQLite path or sqlite:/// URL); default: the running "
        "tethers' stores",
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
