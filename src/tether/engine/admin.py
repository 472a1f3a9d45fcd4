"""Management operations over a store with no tether serving it here: what the CLI runs with
``--connection-string`` when no tether is running on that store.

The operations are the engine's own (:class:`tether.engine.engine.Engine`, never started: it
registers no node and serves no workers), so they commit exactly what a running tether would. An
inbox append (an event, terminate, suspend/resume, a restored reminder) is safe behind a running
owner's back, because owners pick up other processes' rows; deleting a live instance is not, so a
forced purge of an instance that a live node still runs is refused (by ``Engine.purge``) and
sent to that node.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tether import pb
from tether.core.events import to_timestamp
from tether.engine.convert import new_msg_id
from tether.engine.engine import Engine
from tether.engine.query import Query, TimerView
from tether.errors import InvalidArgument
from tether.settings import Settings
from tether.store.base import MessageRow, Store

ADMIN_APP_ID = "tether-admin"
EXPORT_FORMAT = "tether-scheduler-export"


class Admin:
    """The engine's management operations on ``store``, run in this process."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings(app_id=ADMIN_APP_ID, store_url=store.url)
        self.engine = Engine(self.settings, store)
        self.query = Query(store)

    async def purge(self, instance_id: str, recursive: bool, force: bool) -> int:
        return await self.engine.purge(instance_id, recursive, force)

    async def raise_event(self, instance_id: str, name: str, data: str | None) -> None:
        await self.engine.raise_event(instance_id, name, data)

    async def terminate(self, instance_id: str, output: str | None, recursive: bool) -> None:
        await self.engine.terminate(instance_id, output, recursive, wait=False)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        await self.engine.suspend(instance_id, reason, wait=False)

    async def resume(self, instance_id: str, reason: str | None) -> None:
        await self.engine.resume(instance_id, reason, wait=False)

    async def delete_timers(self, msg_ids: list[int]) -> list[MessageRow]:
        return await self.engine.delete_timers(msg_ids)

    async def restore_timers(self, rows: list[MessageRow]) -> tuple[int, list[str]]:
        return await self.engine.restore_timers(rows)


# -- the reminder export format (`tether scheduler export|import`) ------------------------------
def export_document(timers: list[TimerView]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exportedAt": to_timestamp(time.time_ns()).ToJsonString(),
        "reminders": [
            {
                "name": t.name,
                "appID": t.app_id,
                "instanceID": t.instance_id,
                "executionID": t.execution_id,
                "visibleAt": t.due_at,
                "order": t.order,
                "event": base64.b64encode(t.event).decode("ascii"),
            }
            for t in timers
        ],
    }


def rows_from_export(document: Any, app_id: str | None = None) -> list[MessageRow]:
    """The inbox rows an export holds (of one app when given), with fresh message IDs: a
    running engine forgets deleted IDs for good."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise InvalidArgument("not a tether scheduler export")
    if document.get("version") != 1:
        raise InvalidArgument(f"export version {document.get('version')!r} is not supported")
    items = document.get("reminders")
    if not isinstance(items, list):
        raise InvalidArgument("the export has no reminders list")
    rows: list[MessageRow] = []
    for item in items:
        try:
            row = MessageRow(
                msg_id=new_msg_id(),
                instance_id=str(item["instanceID"]),
                app_id=str(item["appID"]),
                event=base64.b64decode(item["event"], validate=True),
                visible_at=int(item["visibleAt"]),
                execution_id=item.get("executionID"),
                order=int(item["order"]),
            )
            pb.HistoryEvent.FromString(row.event)
        except Exception as exc:
            raise InvalidArgument(f"malformed reminder entry ({exc})") from None
        if app_id is None or row.app_id == app_id:
            rows.append(row)
    return rows
