"""Every change the CLI makes goes through an engine: the running tether's (over its HTTP API,
with its API token), or, with ``--connection-string`` and no tether on that store, the engine's
operations run in the CLI. Nothing is edited behind a running tether's back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.cli.conftest import APP_ID, Cli
from tests.conftest import wait_until
from tether.store import open_store
from tether.testing import SidecarProcess

TOKEN = "s3cret-token"


def dapr_get(sidecar: SidecarProcess, instance_id: str, token: str | None = None) -> int:
    headers = {"dapr-api-token": token} if token else {}
    r = httpx.get(
        f"http://127.0.0.1:{sidecar.http_port}/v1.0/workflows/dapr/{instance_id}",
        headers=headers,
        timeout=10,
    )
    return r.status_code


def reminder_names(sidecar: SidecarProcess, token: str | None = None) -> list[str]:
    headers = {"dapr-api-token": token} if token else {}
    r = httpx.get(
        f"http://127.0.0.1:{sidecar.http_port}/tether/v1/timers",
        params={"appID": "*"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()["timers"]]


def test_forced_purge_with_connection_string_goes_through_the_running_tether(
    cli: Cli, app: Any, wf_client: Any, sidecar: SidecarProcess
) -> None:
    wf_client.schedule_new_workflow("TimerWorkflow", input=3600, instance_id="busy-1")
    wf_client.wait_for_workflow_start("busy-1", timeout_in_seconds=30)
    wait_until(lambda: any("/busy-1/" in n for n in reminder_names(sidecar)), timeout=30)
    db = str(sidecar.store_path)
    r = cli("workflow", "purge", "busy-1", "--force", "--connection-string", db)
    assert 'Purged workflow instance "busy-1"' in r.out
    # The running tether itself purged it: it answers "gone" at once, and its timer is gone too.
    assert dapr_get(sidecar, "busy-1") == 404
    assert wf_client.get_workflow_state("busy-1") is None
    assert not any("/busy-1/" in n for n in reminder_names(sidecar))

    # Reminders deleted with --connection-string go through it as well.
    wf_client.schedule_new_workflow("TimerWorkflow", input=3600, instance_id="busy-2")
    name = f"workflow/{APP_ID}/busy-2/timer-1"
    wait_until(lambda: name in reminder_names(sidecar), timeout=30)
    r = cli("scheduler", "delete", name, "--connection-string", db)
    assert f"Deleted reminder {name!r}" in r.out
    assert name not in reminder_names(sidecar)
    assert cli("scheduler", "list", "-o", "json").json() == []


def test_a_tether_with_an_api_token_refuses_a_cli_without_it(tmp_path: Path) -> None:
    with SidecarProcess(
        tmp_path / "tether.db", app_id=APP_ID, env={"DAPR_API_TOKEN": TOKEN}
    ) as sidecar:
        env = sidecar.base_env()
        env.pop("DAPR_API_TOKEN")
        bare = Cli(env, tmp_path)
        with_env = Cli(sidecar.base_env(), tmp_path)
        # No worker runs: the instance stays PENDING, its scheduled start is a reminder.
        with_env("workflow", "run", "HelloWorkflow", "-i", "later-1", "-s", "1h")
        name = next(n for n in reminder_names(sidecar, TOKEN) if "/later-1/" in n)
        db = str(sidecar.store_path)
        for args in (
            ("workflow", "purge", "later-1", "--force"),
            ("workflow", "purge", "later-1", "--force", "--connection-string", db),
            ("workflow", "list"),
            ("workflow", "terminate", "later-1"),
            ("scheduler", "list"),
            ("scheduler", "delete", name),
            ("scheduler", "list", "--connection-string", db),
        ):
            r = bare(*args, ok=False)
            assert "requires its API token" in r.err and "--api-token" in r.err, (args, r)
        # A wrong token is refused by the tether itself.
        r = bare("scheduler", "list", "--api-token", "wrong", ok=False)
        assert "refused" in r.err and "--api-token" in r.err
        assert name in reminder_names(sidecar, TOKEN)
        assert dapr_get(sidecar, "later-1", TOKEN) == 200

        r = bare("scheduler", "delete", name, "--api-token", TOKEN)
        assert "Deleted reminder" in r.out
        assert name not in reminder_names(sidecar, TOKEN)
        listed = with_env("workflow", "list", "-o", "json").json()
        assert [row["instanceID"] for row in listed] == ["later-1"]
        r = bare("workflow", "purge", "later-1", "--force", "--api-token", TOKEN)
        assert 'Purged workflow instance "later-1"' in r.out
        assert dapr_get(sidecar, "later-1", TOKEN) == 404


def test_offline_store_operations_and_a_live_owner(
    cli: Cli, app: Any, wf_client: Any, sidecar: SidecarProcess, tmp_path: Path
) -> None:
    db = str(sidecar.store_path)
    wf_client.schedule_new_workflow("TimerWorkflow", input=3600, instance_id="owned-1")
    wf_client.wait_for_workflow_start("owned-1", timeout_in_seconds=30)
    # A CLI that does not know the running tether (another per-user folder, as on another
    # machine) sees only the store: the instance's owner is live there, so no forced purge.
    elsewhere = dict(cli.env, TETHER_HOME=str(tmp_path / "elsewhere"))
    stranger = Cli(elsewhere, tmp_path)
    r = stranger("workflow", "purge", "owned-1", "--force", "--connection-string", db, ok=False)
    assert "live tether of app 'testapp'" in r.err and f"--app-id {APP_ID}" in r.err
    assert dapr_get(sidecar, "owned-1") == 200

    app.shutdown()
    sidecar.stop()
    # Nothing runs now: the CLI runs the engine's operations on the store itself.
    r = cli("workflow", "list", "--connection-string", db, "-o", "json")
    assert [row["runtimeStatus"] for row in r.json()] == ["RUNNING"]
    r = cli("workflow", "terminate", "owned-1", "--connection-string", db)
    assert "termination is queued" in r.out  # stored; it ends when a tether runs it
    r = cli("workflow", "raise-event", "owned-1/nothing", "--connection-string", db)
    assert "raised event" in r.out
    r = cli("workflow", "purge", "owned-1", "--force", "--connection-string", db)
    assert 'Purged workflow instance "owned-1"' in r.out
    r = cli("workflow", "get", "owned-1", "--connection-string", db, ok=False)
    assert "not found" in r.err
    r = cli("scheduler", "list", "--connection-string", db, "-o", "json")
    assert r.json() == []
    # Without a store or a running tether both command groups say what to do.
    for args in (("workflow", "list"), ("scheduler", "list")):
        r = cli(*args, ok=False)
        assert "no tether" in r.err and "--connection-string" in r.err, r


def test_offline_terminate_is_applied_when_the_tether_comes_back(
    cli: Cli, sidecar: SidecarProcess, tmp_path: Path
) -> None:
    # No worker: a started instance waits PENDING; stop the tether, terminate it offline.
    cli("workflow", "run", "HelloWorkflow", "-i", "parked-1")
    sidecar.stop()
    db = str(sidecar.store_path)
    cli("workflow", "terminate", "parked-1", "--connection-string", db)
    with SidecarProcess(sidecar.store_path, app_id=APP_ID, home=sidecar.home) as back:
        import dapr.ext.workflow as wf

        runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(back.grpc_port))

        @runtime.workflow(name="HelloWorkflow")
        def hello(ctx: Any, _: Any) -> Any:
            return "never"

        runtime.start()
        try:
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(back.grpc_port))
            state = client.wait_for_workflow_completion("parked-1", timeout_in_seconds=30)
            assert state.runtime_status.name == "TERMINATED"
        finally:
            runtime.shutdown()


def test_only_the_tether_running_an_instance_purges_it_by_force(tmp_path: Path) -> None:
    db = tmp_path / "tether.db"
    with (
        SidecarProcess(db, app_id="front") as front,
        SidecarProcess(db, app_id="back", home=front.home, log_path=tmp_path / "back.log"),
    ):
        r = httpx.post(
            f"http://127.0.0.1:{front.http_port}/v1.0/workflows/dapr/Anything/start",
            params={"instanceID": "theirs-1", "appID": "back"},
            timeout=10,
        )
        assert r.status_code == 202, r.text

        def owner() -> str | None:
            async def read() -> str | None:
                store = open_store(f"sqlite:///{db}")
                try:
                    row = await store.read(lambda tx: tx.get_instance("theirs-1"))
                    return row.owner if row is not None else None
                finally:
                    await store.close()

            return asyncio.run(read())

        wait_until(lambda: (owner() or "").startswith("back@"), timeout=30)
        cli = Cli(front.base_env(), tmp_path)
        r = cli("workflow", "purge", "theirs-1", "--force", "-a", "front", ok=False)
        assert "live tether of app 'back'" in r.err and "--app-id back" in r.err
        assert dapr_get(front, "theirs-1") == 200
        r = cli("workflow", "purge", "theirs-1", "--force", "-a", "back")
        assert 'Purged workflow instance "theirs-1"' in r.out
        assert dapr_get(front, "theirs-1") == 404
