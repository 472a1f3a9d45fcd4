"""``Reader.queue_stats``: the counts /metrics reads, on every backend of the contract suite."""

from __future__ import annotations

from typing import Any

from tests.store_contract.test_contract import instance, run
from tether import pb
from tether.store import MessageRow, TaskRow


def _message(msg_id: int, instance_id: str, app: str, visible_at: int, order: int) -> MessageRow:
    return MessageRow(msg_id, instance_id, app, b"", visible_at, None, order)


def test_queue_stats_count_instances_inbox_timers_and_tasks(store_url: str) -> None:
    now = 1_000

    def fill(tx: Any) -> None:
        tx.upsert_instance(instance("r1"))
        tx.upsert_instance(instance("r2"))
        tx.upsert_instance(instance("done", status=pb.COMPLETED))
        tx.upsert_instance(instance("other", app="b"))
        tx.add_messages([
            _message(1, "r1", "a", visible_at=400, order=400),  # ready since 400
            _message(2, "r1", "a", visible_at=900, order=100),  # a timer now due
            _message(3, "r2", "a", visible_at=5_000, order=100),  # a timer not yet due
            _message(4, "other", "b", visible_at=950, order=950),
        ])  # fmt: skip
        tx.add_tasks([
            TaskRow("r1", "e1", 1, "a", b"", created_at=300),
            TaskRow("r2", "e1", 2, "a", b"", created_at=700),
        ])  # fmt: skip

    async def body(store: Any) -> Any:
        await store.write(fill)
        return await store.read(lambda tx: tx.queue_stats(now))

    stats = run(store_url, body)
    assert stats.instances == {("a", pb.RUNNING): 2, ("a", pb.COMPLETED): 1, ("b", pb.RUNNING): 1}
    assert stats.inbox_ready == {"a": (2, 400), "b": (1, 950)}
    assert stats.inbox_waiting == {"a": 1, "b": 0}
    assert stats.timers_due == {"a": 1, "b": 0}
    assert stats.tasks == {"a": (2, 300)}
