"""The storage contract (tether.store.base): one body per test, run against every backend chosen
with ``--backends`` (SQLite and PostgreSQL by default)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tether import pb
from tether.errors import AlreadyExists, Conflict, StoreError
from tether.store import InstanceFilter, InstanceRow, MessageRow, TaskRow, open_store


def run(url: str, body: Any) -> Any:
    async def main() -> Any:
        store = open_store(url)
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def instance(
    instance_id: str, status: int = pb.RUNNING, app: str = "a", owner: str | None = None
) -> InstanceRow:
    return InstanceRow(
        instance_id=instance_id,
        app_id=app,
        name="wf",
        status=status,
        execution_id="e1",
        created_at=1,
        updated_at=1,
        owner=owner,
    )


def test_a_failing_writer_rolls_back_only_its_own_changes(store_url: str) -> None:
    async def body(store: Any) -> Any:
        def good(tx: Any) -> None:
            tx.upsert_instance(instance("good"))

        def bad(tx: Any) -> None:
            tx.upsert_instance(instance("bad"))
            raise AlreadyExists("refused")

        results = await asyncio.gather(
            store.write(good), store.write(bad), store.write(good), return_exceptions=True
        )
        rows = await store.read(lambda tx: tx.list_instances(InstanceFilter()))
        return results, [r.instance_id for r in rows]

    results, ids = run(store_url, body)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], AlreadyExists)
    assert ids == ["good"]


def test_a_lone_failing_writer_leaves_nothing_behind(store_url: str) -> None:
    async def body(store: Any) -> Any:
        def bad(tx: Any) -> None:
            tx.upsert_instance(instance("half"))
            tx.append_history("half", 0, [b"event"])
            raise AlreadyExists("refused")

        with pytest.raises(AlreadyExists):
            await store.write(bad)  # nothing else queued: a batch of one
        await store.write(lambda tx: tx.upsert_instance(instance("after")))
        rows = await store.read(lambda tx: tx.list_instances(InstanceFilter()))
        history = await store.read(lambda tx: tx.load_history("half"))
        return [r.instance_id for r in rows], history

    ids, history = run(store_url, body)
    assert ids == ["after"]
    assert history == []


def test_history_appends_in_order_and_integrity_holds(store_url: str) -> None:
    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.upsert_instance(instance("i")))
        await store.write(lambda tx: tx.append_history("i", 0, [b"a", b"b"]))
        await store.write(lambda tx: tx.append_history("i", 2, [b"c"]))
        return await store.read(lambda tx: (tx.load_history("i"), tx.check_integrity()))

    history, problems = run(store_url, body)
    assert history == [b"a", b"b", b"c"]
    assert problems == []


def test_appending_over_an_existing_seq_is_refused(store_url: str) -> None:
    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.upsert_instance(instance("i")))
        await store.write(lambda tx: tx.append_history("i", 0, [b"a"]))
        with pytest.raises(StoreError):
            await store.write(lambda tx: tx.append_history("i", 0, [b"x"]))
        return await store.read(lambda tx: tx.load_history("i"))

    assert run(store_url, body) == [b"a"]


def test_a_refused_statement_undoes_the_whole_write_and_the_store_goes_on(store_url: str) -> None:
    """What the write ran before and after the refused statement is not stored, whether or not
    the backend waited for each statement's reply; later writes (more than a pool holds) work."""

    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.upsert_instance(instance("i")))
        await store.write(lambda tx: tx.append_history("i", 0, [b"a"]))

        def clash(tx: Any) -> None:
            tx.upsert_instance(instance("before"))
            tx.append_history("i", 0, [b"x"])
            tx.upsert_instance(instance("after"))

        with pytest.raises(Conflict):
            await store.write(clash)
        for n in range(1, 11):
            await store.write(lambda tx, n=n: tx.append_history("i", n, [b"%d" % n]))
        rows = await store.read(lambda tx: tx.list_instances(InstanceFilter()))
        history = await store.read(lambda tx: tx.load_history("i"))
        return [r.instance_id for r in rows], history

    ids, history = run(store_url, body)
    assert ids == ["i"]
    assert history == [b"a", *(b"%d" % n for n in range(1, 11))]


def test_a_task_result_is_taken_once_and_only_for_its_execution(store_url: str) -> None:
    task = TaskRow(
        instance_id="i", execution_id="e1", task_id=1, app_id="a", request=b"r", created_at=0
    )

    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.add_tasks([task]))
        wrong = await store.write(lambda tx: tx.take_task("i", "e0", 1))
        first = await store.write(lambda tx: tx.take_task("i", "e1", 1))
        second = await store.write(lambda tx: tx.take_task("i", "e1", 1))
        return wrong, first, second

    assert run(store_url, body) == (False, True, False)


def test_messages_are_ordered_and_cleared_per_execution(store_url: str) -> None:
    def message(msg_id: int, order: int, execution: str | None) -> MessageRow:
        return MessageRow(msg_id, "i", "a", b"e", 0, execution, order)

    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.upsert_instance(instance("i")))
        await store.write(
            lambda tx: tx.add_messages(
                [message(3, 30, None), message(1, 10, "e1"), message(2, 20, "e0")]
            )
        )
        before = await store.read(lambda tx: [m.msg_id for m in tx.load_messages("i")])
        await store.write(lambda tx: tx.clear_messages("i", only_execution="e0"))
        after = await store.read(lambda tx: [m.msg_id for m in tx.load_messages("i")])
        await store.write(lambda tx: tx.delete_instance("i"))
        gone = await store.read(
            lambda tx: (tx.load_messages("i"), tx.get_instance("i"), tx.check_integrity())
        )
        return before, after, gone

    before, after, gone = run(store_url, body)
    assert before == [1, 2, 3]
    assert after == [1, 3]
    assert gone == ([], None, [])


def test_instance_listing_filters_and_pages(store_url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            for i in range(5):
                row = instance(f"i{i}", status=pb.COMPLETED if i % 2 else pb.RUNNING)
                row.created_at = i
                tx.upsert_instance(row)

        await store.write(seed)
        page1 = await store.read(lambda tx: tx.list_instance_ids("a", None, 2))
        page2 = await store.read(lambda tx: tx.list_instance_ids("a", page1[-1], 2))
        done = await store.read(
            lambda tx: tx.list_instances(InstanceFilter(statuses=[pb.COMPLETED]))
        )
        recent = await store.read(lambda tx: tx.list_instances(InstanceFilter(created_from=3)))
        return page1, page2, [r.instance_id for r in done], [r.instance_id for r in recent]

    page1, page2, done, recent = run(store_url, body)
    assert (page1, page2) == (["i0", "i1"], ["i2", "i3"])
    assert done == ["i1", "i3"]
    assert recent == ["i3", "i4"]


def test_instance_listing_sorts_by_time_with_keyset_cursor_prefix_and_counts(
    store_url: str,
) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            # Equal update times for two rows: the ID breaks the tie, so paging never skips one.
            for i, (created, updated) in enumerate([(5, 10), (4, 30), (3, 20), (2, 20), (1, 40)]):
                row = instance(f"ord-{i}", status=pb.COMPLETED if i < 2 else pb.RUNNING)
                row.created_at, row.updated_at = created, updated
                tx.upsert_instance(row)
            tx.upsert_instance(instance("other-1", app="b"))

        await store.write(seed)

        def listing(**kw: Any) -> Any:
            return store.read(
                lambda tx: [r.instance_id for r in tx.list_instances(InstanceFilter(**kw))]
            )

        by_updated = await listing(app_id="a", order_by="updated_at")
        first = await listing(app_id="a", order_by="updated_at", limit=2)
        # The cursor: the last row's key and ID.
        rest = await listing(app_id="a", order_by="updated_at", after_key=20, after_id="ord-2")
        newest = await listing(app_id="a", order_by="created_at", descending=True, limit=2)
        prefixed = await listing(id_prefix="ord-")
        window = await listing(updated_from=20, updated_to=40)
        counts = await store.read(lambda tx: tx.count_instances(InstanceFilter(app_id="a")))
        live = await store.read(
            lambda tx: tx.count_instances(InstanceFilter(statuses=[pb.RUNNING], limit=1))
        )
        return by_updated, first, rest, newest, prefixed, window, counts, live

    by_updated, first, rest, newest, prefixed, window, counts, live = run(store_url, body)
    assert by_updated == ["ord-0", "ord-2", "ord-3", "ord-1", "ord-4"]
    assert first == ["ord-0", "ord-2"]
    assert rest == ["ord-3", "ord-1", "ord-4"]
    assert newest == ["ord-0", "ord-1"]
    assert prefixed == [f"ord-{i}" for i in range(5)]
    assert window == ["ord-1", "ord-2", "ord-3"]
    assert counts == {pb.COMPLETED: 2, pb.RUNNING: 3}
    assert live == {pb.RUNNING: 4}


def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    run(f"sqlite:///{path}", lambda store: asyncio.sleep(0))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this tether knows"):
        open_store(f"sqlite:///{path}")


def test_keyset_paging_in_every_order_and_direction_visits_each_row_once(store_url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            # Many ties on both time keys, so the ID must break them for paging to be exact.
            for i in range(9):
                row = instance(f"p-{i}")
                row.created_at, row.updated_at = i % 3, 10 - i % 2
                row.parent_instance_id = "p-0" if i % 4 == 1 else None
                tx.upsert_instance(row)

        await store.write(seed)
        found: dict[tuple[str, bool], tuple[list[str], list[str]]] = {}
        for key in ("instance_id", "created_at", "updated_at"):
            for descending in (False, True):
                flt = InstanceFilter(order_by=key, descending=descending)
                whole = await store.read(lambda tx, f=flt: tx.list_instances(f))
                paged: list[str] = []
                while True:
                    flt.limit = 2
                    page = await store.read(lambda tx, f=flt: tx.list_instances(f))
                    paged += [r.instance_id for r in page]
                    if len(page) < 2:
                        break
                    flt.after_id = page[-1].instance_id
                    flt.after_key = getattr(page[-1], key) if key != "instance_id" else None
                found[key, descending] = [r.instance_id for r in whole], paged
        children = await store.read(
            lambda tx: tx.list_instances(InstanceFilter(has_parent=True, descending=True))
        )
        return found, [r.instance_id for r in children]

    found, children = run(store_url, body)
    ids = [f"p-{i}" for i in range(9)]
    assert found["instance_id", False] == (ids, ids)
    assert found["instance_id", True] == (ids[::-1], ids[::-1])
    by_created = sorted(ids, key=lambda i: (int(i[2:]) % 3, i))
    assert found["created_at", False] == (by_created, by_created)
    assert found["created_at", True] == (by_created[::-1], by_created[::-1])
    by_updated = sorted(ids, key=lambda i: (10 - int(i[2:]) % 2, i))
    assert found["updated_at", False] == (by_updated, by_updated)
    assert found["updated_at", True] == (by_updated[::-1], by_updated[::-1])
    assert children == ["p-5", "p-1"]
