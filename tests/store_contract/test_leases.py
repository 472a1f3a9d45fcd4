"""The store contract for leases, epochs, fencing, claims, the store clock and the change feed."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.store_contract.test_contract import run
from tether import pb
from tether.errors import LeaseLost
from tether.store import Change, InstanceRow, MessageRow, NodeRow, TaskRow, open_store
from tether.store.base import CLAIMABLE, INBOX, INSTANCE, TASK, TERMINAL_STATUSES
from tether.store.sqlite.schema import SCHEMA_VERSION, migrations, prepare

SECOND = 1_000_000_000


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


def node(node_id: str, app: str = "a") -> NodeRow:
    return NodeRow(node_id, app, "host", 1, 0, 0, 0, 0)


def instance(instance_id: str, owner: str | None = None, status: int = pb.RUNNING) -> InstanceRow:
    return InstanceRow(
        instance_id=instance_id,
        app_id="a",
        name="wf",
        status=status,
        execution_id="e1",
        created_at=1,
        updated_at=1,
        owner=owner,
        epoch=1 if owner else 0,
    )


def test_terminal_statuses_match_the_protocol() -> None:
    assert TERMINAL_STATUSES == pb.TERMINAL_STATUSES


def test_a_write_under_a_stale_epoch_fails_and_changes_nothing(url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            tx.register_node(node("old"), 60 * SECOND)
            tx.register_node(node("new"), 60 * SECOND)
            tx.upsert_instance(instance("i", owner="old"))
            tx.append_history("i", 0, [b"e0"])

        await store.write(seed)
        await store.write(lambda tx: tx.expire_node("old"))
        leases = await store.write(lambda tx: tx.claim_instances("new", "a", 10))

        def stale(tx: Any) -> None:
            tx.fence("i", "old", 1)
            tx.append_history("i", 1, [b"stale"])
            tx.delete_messages([1])

        with pytest.raises(LeaseLost, match="now owned by 'new' at epoch 2"):
            await store.write(stale)
        history = await store.read(lambda tx: tx.load_history("i"))

        def fresh(tx: Any) -> None:
            tx.fence("i", "new", 2)
            tx.append_history("i", 1, [b"fresh"])

        await store.write(fresh)
        after = await store.read(lambda tx: tx.load_history("i"))
        return leases, history, after

    leases, history, after = run(url, body)
    assert [(x.instance_id, x.owner, x.epoch, x.previous_owner) for x in leases] == [
        ("i", "new", 2, "old")
    ]
    assert history == [b"e0"]
    assert after == [b"e0", b"fresh"]


def test_an_expired_node_lease_fences_its_owner_out(url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            tx.register_node(node("n"), 60 * SECOND)
            tx.upsert_instance(instance("i", owner="n"))

        await store.write(seed)
        await store.write(lambda tx: tx.fence("i", "n", 1))  # a live lease passes
        await store.write(lambda tx: tx.expire_node("n"))
        with pytest.raises(LeaseLost, match="expired"):
            await store.write(lambda tx: tx.fence("i", "n", 1))
        with pytest.raises(LeaseLost):
            await store.write(lambda tx: tx.renew_node("n", SECOND))
        with pytest.raises(LeaseLost):
            await store.write(lambda tx: tx.claim_instances("n", "a", 10))
        await store.write(lambda tx: tx.delete_instance("i"))
        with pytest.raises(LeaseLost, match="gone"):
            await store.write(lambda tx: tx.fence("i", "n", 1))

    run(url, body)


def test_claims_skip_live_owners_and_terminal_instances_and_grow_epochs(url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            for n in ("me", "live", "dead"):
                tx.register_node(node(n), 60 * SECOND)
            tx.upsert_instance(instance("free"))
            tx.upsert_instance(instance("dead-owned", owner="dead"))
            tx.upsert_instance(instance("live-owned", owner="live"))
            tx.upsert_instance(instance("done", status=pb.COMPLETED))
            other = instance("other-app")
            other.app_id = "b"
            tx.upsert_instance(other)

        await store.write(seed)
        await store.write(lambda tx: tx.expire_node("dead"))
        claimed = await store.write(lambda tx: tx.claim_instances("me", "a", 10))
        again = await store.write(lambda tx: tx.claim_instances("live", "a", 10))
        rows = await store.read(lambda tx: {i: tx.get_instance(i) for i in ("free", "dead-owned")})
        return claimed, again, rows

    claimed, again, rows = run(url, body)
    assert sorted((x.instance_id, x.epoch, x.previous_owner) for x in claimed) == [
        ("dead-owned", 2, "dead"),
        ("free", 1, None),
    ]
    assert {x.instance_id for x in claimed if x.taken_over} == {"dead-owned"}
    assert again == []
    assert {i: (r.owner, r.epoch) for i, r in rows.items()} == {
        "free": ("me", 1),
        "dead-owned": ("me", 2),
    }


def test_claims_are_bounded_and_spread_over_live_nodes(url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            for n in ("n1", "n2", "n3"):
                tx.register_node(node(n), 60 * SECOND)
            for i in range(30):
                tx.upsert_instance(instance(f"i{i:02d}"))

        await store.write(seed)
        first = await store.write(lambda tx: tx.claim_instances("n1", "a", 4))
        shares = [len(first)]
        for n in ("n1", "n2", "n3", "n2", "n3"):
            shares.append(len(await store.write(lambda tx, n=n: tx.claim_instances(n, "a", 100))))
        owners = await store.read(
            lambda tx: [tx.get_instance(f"i{i:02d}").owner for i in range(30)]
        )
        return shares, owners

    shares, owners = run(url, body)
    assert shares[0] == 4  # the batch bound
    assert shares[1] == 6  # then up to n1's fair share of 30 / 3
    assert sorted(owners.count(n) for n in ("n1", "n2", "n3")) == [10, 10, 10]


def test_tasks_of_a_dead_node_are_claimed_once(url: str) -> None:
    async def body(store: Any) -> Any:
        def seed(tx: Any) -> None:
            tx.register_node(node("dead"), 60 * SECOND)
            tx.register_node(node("me"), 60 * SECOND)
            tx.add_tasks([TaskRow("i", "e1", t, "a", b"req", 1, "dead") for t in (1, 2)])
            tx.add_tasks([TaskRow("i", "e1", 3, "a", b"req", 1, "me")])

        await store.write(seed)
        before = await store.write(lambda tx: tx.claim_tasks("me", "a", 10))
        await store.write(lambda tx: tx.expire_node("dead"))
        claimed = await store.write(lambda tx: tx.claim_tasks("me", "a", 10))
        again = await store.write(lambda tx: tx.claim_tasks("me", "a", 10))
        return before, claimed, again

    before, claimed, again = run(url, body)
    assert before == []
    assert sorted((t.task_id, t.owner) for t in claimed) == [(1, "me"), (2, "me")]
    assert again == []


def test_the_store_clock_ignores_a_wall_clock_an_hour_ahead(url: str) -> None:
    """A node whose wall clock jumps ahead cannot expire others' leases early."""

    async def body(store: Any) -> Any:
        expires = await store.write(lambda tx: tx.register_node(node("n"), 5 * SECOND))
        real = time.time_ns
        time.time_ns = lambda: real() + 3600 * SECOND  # type: ignore[assignment]
        try:
            now = await store.write(lambda tx: tx.store_now())
            fenced = await store.write(lambda tx: tx.renew_node("n", 5 * SECOND))
        finally:
            time.time_ns = real  # type: ignore[assignment]
        return expires, now, fenced

    expires, now, renewed = run(url, body)
    assert now < expires  # not an hour on
    assert renewed > expires


def test_the_store_clock_is_shared_and_never_goes_back(url: str, tmp_path: Path) -> None:
    async def body(store: Any) -> Any:
        values = []
        for _ in range(5):
            values.append(await store.write(lambda tx: tx.store_now()))
            values.append(await store.read(lambda tx: tx.store_now()))
        written = await store.write(lambda tx: tx.store_now())
        other = open_store(url)
        try:
            seen_elsewhere = await other.read(lambda tx: tx.store_now())
        finally:
            await other.close()
        return values, written, seen_elsewhere

    values, written, seen_elsewhere = run(url, body)
    assert values == sorted(values)
    assert seen_elsewhere >= written  # what one writer stored, every process sees


def test_the_change_feed_names_what_other_writers_changed(url: str) -> None:
    async def body(store: Any) -> Any:
        seen: list[Change] = []
        store.set_change_listener(seen.extend)
        await store.write(lambda tx: tx.upsert_instance(instance("mine")))  # own: not reported
        other = open_store(url)
        try:

            def foreign(tx: Any) -> None:
                tx.upsert_instance(instance("i"))
                tx.add_messages([MessageRow(7, "i", "a", b"e", 0, None, 1)])
                tx.add_tasks([TaskRow("i", "e1", 1, "b", b"r", 1, None)])

            await other.write(foreign)
            await other.write(lambda tx: tx.upsert_instance(instance("owned", owner="x")))
            await other.write(lambda tx: tx.upsert_instance(instance("done", status=pb.COMPLETED)))
            await other.write(lambda tx: tx.delete_messages([7]))
            await other.write(lambda tx: tx.delete_instance("i"))
        finally:
            await other.close()
        deadline = time.monotonic() + 10
        while len(seen) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return seen

    seen = run(url, body)
    assert seen == [  # an unowned, unfinished instance is also named as up for claiming
        Change(CLAIMABLE, "a", "i"),
        Change(INBOX, "a", "i"),
        Change(INSTANCE, "a", "i"),
        Change(TASK, "b", "i"),
        Change(INSTANCE, "a", "owned"),
        Change(INSTANCE, "a", "done"),
        Change(INBOX, "a", "i"),
        Change(INSTANCE, "a", "i"),
    ]


def test_a_turn_that_keeps_the_status_announces_nothing(url: str) -> None:
    """Waiters elsewhere wait for statuses and only the owner acts on the rest of the row: an
    instance change is announced for a new status, not for every turn."""

    async def body(store: Any) -> Any:
        seen: list[Change] = []
        store.set_change_listener(seen.extend)
        other = open_store(url)
        try:
            await other.write(lambda tx: tx.register_node(node("x"), 60 * SECOND))
            await other.write(lambda tx: tx.upsert_instance(instance("owned", owner="x")))

            def turn(status: int) -> Any:
                def fn(tx: Any) -> None:
                    tx.fence("owned", "x", 1)
                    tx.upsert_instance(instance("owned", owner="x", status=status))

                return fn

            def mark(name: str) -> Any:  # a change that is always announced, as a milestone
                return other.write(lambda tx: tx.upsert_instance(instance(name, owner="x")))

            await other.write(turn(pb.RUNNING))  # still running: nobody else needs to know
            await other.write(turn(pb.RUNNING))
            await mark("after-turns")
            await other.write(turn(pb.SUSPENDED))
            await other.write(turn(pb.SUSPENDED))  # still suspended
            await mark("after-suspend")
            await other.write(turn(pb.COMPLETED))
            await mark("after-completion")
        finally:
            await other.close()
        deadline = time.monotonic() + 10
        last = Change(INSTANCE, "a", "after-completion")
        while last not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return seen

    assert run(url, body) == [
        Change(INSTANCE, "a", "owned"),  # created
        Change(INSTANCE, "a", "after-turns"),
        Change(INSTANCE, "a", "owned"),  # suspended
        Change(INSTANCE, "a", "after-suspend"),
        Change(INSTANCE, "a", "owned"),  # completed
        Change(INSTANCE, "a", "after-completion"),
    ]


def _claim_in_process(url: str, name: str, ready: Any, out: Any) -> None:
    async def body(store: Any) -> list[str]:
        await store.write(lambda tx: tx.register_node(node(name), 60 * SECOND))
        ready.wait(60)  # both claim from the same moment on
        got: list[str] = []
        while leases := await store.write(lambda tx: tx.claim_instances(name, "a", 3)):
            got.extend(x.instance_id for x in leases)
        return got

    out.put((name, run(url, body)))


def test_two_processes_claiming_at_once_never_share_an_instance(url: str) -> None:
    count = 600

    async def seed(store: Any) -> None:
        def fill(tx: Any) -> None:
            for i in range(count):
                tx.upsert_instance(instance(f"i{i:03d}"))

        await store.write(fill)

    run(url, seed)
    ctx = multiprocessing.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_claim_in_process, args=(url, n, ready, out)) for n in ("p1", "p2")]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    assert not set(results["p1"]) & set(results["p2"])
    # each took its fair share (half of them, over the two live nodes)
    assert len(results["p1"]) == len(results["p2"]) == count // 2
    assert sorted(results["p1"] + results["p2"]) == [f"i{i:03d}" for i in range(count)]
    owners = run(
        url, lambda s: s.read(lambda tx: [tx.get_instance(f"i{i:03d}") for i in range(count)])
    )
    assert all(r.epoch == 1 for r in owners)


def _claim_tasks_in_process(url: str, name: str, ready: Any, out: Any) -> None:
    async def body(store: Any) -> list[tuple[str, int]]:
        await store.write(lambda tx: tx.register_node(node(name), 60 * SECOND))
        ready.wait(60)  # both claim from the same moment on
        claimed: list[tuple[str, int]] = []
        while tasks := await store.write(lambda tx: tx.claim_tasks(name, "a", 2)):
            claimed.extend((t.instance_id, t.task_id) for t in tasks)
        return claimed

    out.put((name, run(url, body)))


def test_two_processes_claiming_tasks_at_once_never_share_one(url: str) -> None:
    """A task one node claimed is never claimed again by a claim that began before it committed
    (on PostgreSQL the row is checked again once it is locked). Thousands of claims race here."""
    count = 3000

    async def seed(store: Any) -> None:
        tasks = [TaskRow(f"i{t // 10}", "e1", t % 10, "a", b"r", t, "dead") for t in range(count)]
        await store.write(lambda tx: tx.add_tasks(tasks))

    run(url, seed)
    ctx = multiprocessing.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Barrier(2)
    procs = [
        ctx.Process(target=_claim_tasks_in_process, args=(url, n, ready, out)) for n in ("p1", "p2")
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    one, two = results["p1"], results["p2"]
    shared = set(one) & set(two)
    assert not shared, f"{len(shared)} task(s) claimed by both nodes, e.g. {sorted(shared)[:5]}"
    assert len(one) == len(set(one)) and len(two) == len(set(two))
    assert len(one) + len(two) == count and one and two, (len(one), len(two))


def _shape(conn: sqlite3.Connection) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for name, kind in conn.execute(
        "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ):
        if kind == "table":
            shape[name] = [tuple(r) for r in conn.execute(f"PRAGMA table_xinfo({name})")]
        else:
            shape[name] = [tuple(r) for r in conn.execute(f"PRAGMA index_xinfo({name})")]
    return shape


def test_a_fresh_schema_equals_a_migrated_one(tmp_path: Path) -> None:
    fresh = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    prepare(fresh, "fresh.db")
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    prepare(old, "old.db", upto=1)  # the 0.1 schema
    assert prepare(old, "old.db") == 1
    assert _shape(fresh) == _shape(old)
    for conn in (fresh, old):
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    assert SCHEMA_VERSION == max(migrations()) >= 2


def test_a_0_1_store_with_data_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    prepare(conn, path, upto=1)
    conn.execute(
        "INSERT INTO instances (instance_id, app_id, name, status, execution_id, created_at, "
        "updated_at, owner) VALUES ('i', 'a', 'wf', 0, 'e1', 1, 1, 'gone-node')"
    )
    conn.close()

    async def body(store: Any) -> Any:
        await store.write(lambda tx: tx.register_node(node("me"), 60 * SECOND))
        return await store.write(lambda tx: tx.claim_instances("me", "a", 10))

    leases = run(f"sqlite:///{path}", body)
    assert [(x.instance_id, x.epoch) for x in leases] == [("i", 1)]
