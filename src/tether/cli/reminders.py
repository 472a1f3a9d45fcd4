"""Where ``tether scheduler …`` finds and changes reminders: running tethers over their HTTP API
(one per store), or a store no tether serves, through the engine's operations run here."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tether import registry
from tether.cli import target
from tether.cli.durations import parse_time, to_ns
from tether.cli.output import CliError
from tether.cli.remote import TetherHttp
from tether.engine.admin import EXPORT_FORMAT, Admin, export_document, rows_from_export
from tether.engine.query import TimerView, name_matches

T = TypeVar("T")


@dataclass(frozen=True)
class Reminder:
    name: str
    kind: str  # timer or start
    app_id: str
    instance_id: str
    due_at: int
    timer_id: int | None
    execution_id: str | None
    source: ReminderSource


class ReminderSource(Protocol):
    def serves(self, app_id: str) -> bool: ...
    def pending(self, app_id: str | None) -> list[Reminder]: ...
    def delete(self, names: list[str]) -> list[str]: ...
    def export(self, app_id: str | None) -> list[dict[str, Any]]: ...
    def restore(self, items: list[dict[str, Any]]) -> tuple[int, list[str]]: ...


def _document(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": EXPORT_FORMAT, "version": 1, "reminders": items}


class RemoteReminders:
    """A running tether: its engine lists, deletes and restores (with its API token)."""

    def __init__(self, http: TetherHttp) -> None:
        self.http = http

    def serves(self, app_id: str) -> bool:
        return self.http.app_id == app_id

    def pending(self, app_id: str | None) -> list[Reminder]:
        body = self.http.get("/timers", [("appID", app_id or "*")])
        return [
            Reminder(
                name=t["name"],
                kind=t["type"],
                app_id=t["appID"],
                instance_id=t["instanceID"],
                due_at=to_ns(parse_time(t["dueTime"])),
                timer_id=t.get("timerID"),
                execution_id=t.get("executionID"),
                source=self,
            )
            for t in body["timers"]
        ]

    def delete(self, names: list[str]) -> list[str]:
        deleted: list[str] = self.http.post("/timers/delete", {"names": names}, [("appID", "*")])[
            "deleted"
        ]
        return deleted

    def export(self, app_id: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.http.get("/timers/export", [("appID", app_id or "*")])[
            "reminders"
        ]
        return items

    def restore(self, items: list[dict[str, Any]]) -> tuple[int, list[str]]:
        result = self.http.post("/timers/import", _document(items))
        return int(result["imported"]), list(result["skipped"])


class StoreReminders:
    """A store no tether serves (``--connection-string``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, fn: Callable[[Admin], Awaitable[T]]) -> T:
        return target.on_store(self.url, fn)

    def serves(self, app_id: str) -> bool:
        return False

    def _view(self, t: TimerView) -> Reminder:
        return Reminder(
            t.name, t.kind, t.app_id, t.instance_id, t.due_at, t.timer_id, t.execution_id, self
        )

    def pending(self, app_id: str | None) -> list[Reminder]:
        timers = self._run(lambda admin: admin.query.timers(app_id))
        return [self._view(t) for t in timers]

    def delete(self, names: list[str]) -> list[str]:
        async def delete(admin: Admin) -> list[str]:
            wanted = set(names)
            chosen = [t for t in await admin.query.timers(None) if t.name in wanted]
            gone = {r.msg_id for r in await admin.delete_timers([t.msg_id for t in chosen])}
            return [t.name for t in chosen if t.msg_id in gone]

        return self._run(delete)

    def export(self, app_id: str | None) -> list[dict[str, Any]]:
        async def export(admin: Admin) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = export_document(await admin.query.timers(app_id))[
                "reminders"
            ]
            return items

        return self._run(export)

    def restore(self, items: list[dict[str, Any]]) -> tuple[int, list[str]]:
        async def restore(admin: Admin) -> tuple[int, list[str]]:
            return await admin.restore_timers(rows_from_export(_document(items)))

        return self._run(restore)


def sources(args: argparse.Namespace) -> list[ReminderSource]:
    """One source per store: ``--connection-string``'s, else every running tether's."""
    token = target.api_token(args.api_token)
    if args.connection_string:
        chosen = target.resolve(
            args.app_id, args.connection_string, getattr(args, "table_name", None)
        )
        if chosen.sidecar is not None:
            return [RemoteReminders(TetherHttp(chosen.sidecar, token))]
        assert chosen.store_url is not None
        return [StoreReminders(chosen.store_url)]
    running = registry.running()
    if args.app_id:
        running = [r for r in running if r.app_id == args.app_id]
    if not running:
        target.find_sidecar(args.app_id)  # raises the "no tether is running" advice
    newest: dict[str, registry.RunningSidecar] = {}
    for entry in sorted(running, key=lambda r: r.started_at):
        newest[entry.store_url] = entry
    return [RemoteReminders(TetherHttp(e, token)) for e in newest.values()]


def load(args: argparse.Namespace) -> list[Reminder]:
    found = [r for s in sources(args) for r in s.pending(args.app_id)]
    return sorted(found, key=lambda r: (r.due_at, r.name))


def find(args: argparse.Namespace, names: list[str]) -> list[Reminder]:
    by_name = {r.name: r for r in load(args)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CliError(f"reminder {missing[0]!r} not found")
    return [by_name[n] for n in dict.fromkeys(names)]


def under(reminders: list[Reminder], prefix: str) -> list[Reminder]:
    return [r for r in reminders if name_matches(r.name, prefix)]


def delete(reminders: list[Reminder]) -> int:
    by_source: dict[int, tuple[ReminderSource, list[str]]] = {}
    for r in reminders:
        by_source.setdefault(id(r.source), (r.source, []))[1].append(r.name)
    return sum(len(source.delete(names)) for source, names in by_source.values())
