"""Where ``workflow list|get|history|purge`` read and purge instances: a running tether over gRPC,
or a store opened directly (``--connection-string``), behind one small interface."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tether import pb
from tether.cli.durations import from_ns, rfc3339
from tether.cli.output import CliError
from tether.cli.target import SidecarClient, open_cli_store
from tether.engine.convert import workflow_state
from tether.errors import TetherError
from tether.store import InstanceFilter, InstanceRow, Reader

PAGE_SIZE = 1024
PARALLEL_GETS = 32


@dataclass
class InstanceView:
    instance_id: str
    app_id: str
    name: str
    status: str
    created: datetime | None
    last_updated: datetime | None
    custom_status: str | None = None
    input: str | None = None
    output: str | None = None
    failure_type: str | None = None
    failure_message: str | None = None
    failure_stack: str | None = None
    parent_instance_id: str | None = None
    execution_id: str | None = None
    scheduled_start: datetime | None = None
    completed: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def list_record(self, namespace: str) -> dict[str, Any]:
        """The Dapr CLI's wide list row (used by every machine format)."""
        return {
            "namespace": namespace,
            "appID": self.app_id,
            "name": self.name,
            "instanceID": self.instance_id,
            "created": rfc3339(self.created) if self.created else None,
            "lastUpdate": rfc3339(self.last_updated) if self.last_updated else None,
            "runtimeStatus": self.status,
            "customStatus": self.custom_status or "",
            "failureMessage": (self.failure_message or "").replace("\n", " "),
        }

    def detail_record(self, namespace: str) -> dict[str, Any]:
        record = self.list_record(namespace)
        extra: dict[str, Any] = {
            "executionID": self.execution_id,
            "parentInstanceID": self.parent_instance_id,
            "scheduledStart": rfc3339(self.scheduled_start) if self.scheduled_start else None,
            "completed": rfc3339(self.completed) if self.completed else None,
            "input": self.input,
            "output": self.output,
            "failureType": self.failure_type,
            "failureStackTrace": self.failure_stack,
            "tags": dict(self.tags) or None,
        }
        record.update({k: v for k, v in extra.items() if v is not None})
        return record


def _ts(value: Any) -> datetime | None:
    nanos = int(value.seconds) * 1_000_000_000 + int(value.nanos)
    return from_ns(nanos) if nanos > 0 else None


def view_from_state(state: Any, app_id: str) -> InstanceView:
    failure = state.failureDetails if state.HasField("failureDetails") else None
    return InstanceView(
        instance_id=state.instanceId,
        app_id=app_id,
        name=state.name,
        status=pb.STATUS_NAMES.get(state.workflowStatus, "UNKNOWN"),
        created=_ts(state.createdTimestamp),
        last_updated=_ts(state.lastUpdatedTimestamp),
        custom_status=state.customStatus.value if state.HasField("customStatus") else None,
        input=state.input.value if state.HasField("input") else None,
        output=state.output.value if state.HasField("output") else None,
        failure_type=failure.errorType if failure is not None else None,
        failure_message=failure.errorMessage if failure is not None else None,
        failure_stack=(
            failure.stackTrace.value
            if failure is not None and failure.HasField("stackTrace")
            else None
        ),
        parent_instance_id=(
            state.parentInstanceId.value if state.HasField("parentInstanceId") else None
        ),
        execution_id=state.executionId.value if state.HasField("executionId") else None,
        scheduled_start=(
            _ts(state.scheduledStartTimestamp)
            if state.HasField("scheduledStartTimestamp")
            else None
        ),
        completed=_ts(state.completedTimestamp) if state.HasField("completedTimestamp") else None,
        tags=dict(state.tags),
    )


def view_from_row(row: InstanceRow) -> InstanceView:
    """The same view for a row read straight from a store (``--connection-string``)."""
    return view_from_state(workflow_state(row, with_payloads=True), row.app_id)


def not_found(instance_id: str) -> CliError:
    return CliError(f"workflow instance '{instance_id}' not found")


PurgeHook = Callable[[str], None]


class InstanceSource(Protocol):
    app_id: str | None

    def list_all(self) -> list[InstanceView]: ...
    def get(self, instance_id: str) -> InstanceView: ...
    def history(self, instance_id: str) -> list[Any]: ...
    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        """Purge one by one (non-recursive); the first failure raises ``<id>: <error>``."""
        ...


class SidecarSource:
    def __init__(self, client: SidecarClient) -> None:
        self.client = client
        self.app_id: str | None = client.app_id

    def _get(self, instance_id: str) -> InstanceView | None:
        response = self.client.call(
            "GetInstance",
            pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True),
            pb.GetInstanceResponse,
        )
        if not response.exists:
            return None
        return view_from_state(response.workflowState, self.client.app_id)

    def list_all(self) -> list[InstanceView]:
        ids: list[str] = []
        token: str | None = None
        while True:
            request = pb.ListInstanceIDsRequest(pageSize=PAGE_SIZE)
            if token is not None:
                request.continuationToken = token
            page = self.client.call("ListInstanceIDs", request, pb.ListInstanceIDsResponse)
            ids.extend(page.instanceIds)
            if not page.HasField("continuationToken") or not page.instanceIds:
                break
            token = page.continuationToken
        with ThreadPoolExecutor(max_workers=PARALLEL_GETS) as pool:
            views = list(pool.map(self._get, ids))
        return [v for v in views if v is not None]

    def get(self, instance_id: str) -> InstanceView:
        view = self._get(instance_id)
        if view is None:
            raise not_found(instance_id)
        return view

    def history(self, instance_id: str) -> list[Any]:
        response = self.client.call(
            "GetInstanceHistory",
            pb.GetInstanceHistoryRequest(instanceId=instance_id),
            pb.GetInstanceHistoryResponse,
        )
        return list(response.events)

    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        for instance_id in instance_ids:
            request = pb.PurgeInstancesRequest(instanceId=instance_id, recursive=False)
            if force:
                request.force = True
            try:
                response = self.client.call("PurgeInstances", request, pb.PurgeInstancesResponse)
            except CliError as exc:
                raise CliError(f"{instance_id}: {exc.message}") from None
            if response.deletedInstanceCount == 0:
                raise CliError(f"{instance_id}: {not_found(instance_id).message}")
            done(instance_id)


class StoreSource:
    """Direct store access; purges go through a short-lived engine on the store (no servers)."""

    def __init__(self, url: str, app_id: str | None) -> None:
        self.url = url
        self.app_id = app_id

    def _read(self, fn: Callable[[Reader], Any]) -> Any:
        async def main() -> Any:
            store = open_cli_store(self.url)
            try:
                return await store.read(fn)
            finally:
                await store.close()

        return asyncio.run(main())

    def list_all(self) -> list[InstanceView]:
        rows: list[InstanceRow] = self._read(
            lambda tx: tx.list_instances(InstanceFilter(app_id=self.app_id))
        )
        return [view_from_row(r) for r in rows]

    def _row(self, tx: Reader, instance_id: str) -> InstanceRow | None:
        row = tx.get_instance(instance_id)
        if row is None or (self.app_id is not None and row.app_id != self.app_id):
            return None
        return row

    def get(self, instance_id: str) -> InstanceView:
        row = self._read(lambda tx: self._row(tx, instance_id))
        if row is None:
            raise not_found(instance_id)
        return view_from_row(row)

    def history(self, instance_id: str) -> list[Any]:
        def read(tx: Reader) -> list[bytes] | None:
            if self._row(tx, instance_id) is None:
                return None
            return tx.load_history(instance_id)

        raw: list[bytes] | None = self._read(read)
        if raw is None:
            raise not_found(instance_id)
        return [pb.HistoryEvent.FromString(b) for b in raw]

    def purge(self, instance_ids: list[str], force: bool, done: PurgeHook) -> None:
        from tether.engine.engine import Engine
        from tether.settings import Settings

        async def main() -> None:
            store = open_cli_store(self.url)
            engine = Engine(Settings(app_id=self.app_id or "tether", store_url=self.url), store)
            try:
                for instance_id in instance_ids:
                    row = await store.read(functools.partial(self._row, instance_id=instance_id))
                    if row is None:
                        raise CliError(f"{instance_id}: {not_found(instance_id).message}")
                    try:
                        await engine.purge(instance_id, recursive=False, force=force)
                    except TetherError as exc:
                        raise CliError(f"{instance_id}: {exc.message}") from None
                    done(instance_id)
            finally:
                await store.close()

        asyncio.run(main())
