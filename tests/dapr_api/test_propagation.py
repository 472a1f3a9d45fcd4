"""History propagation end to end: the official 1.19 SDK against real ``tether`` processes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.commands.test_serve_run import env_for
from tether.testing import SidecarProcess

APP = Path(__file__).parent / "apps" / "propagation_app.py"

# What the SDK's examples/workflow/history_propagation.py prints under Dapr (each line once;
# replays may print a workflow's line again).
EXAMPLE_LINES = [
    "*** validating merchant merchant-42",
    "*** process_payment received parent context for merchant 'merchant-42'",
    "*** child workflow result: paid",
    "*** log_summary saw parent on app workflow-history-propagation with validate_merchant -> "
    'completed=True output={"merchant_id": "merchant-42", "valid": true}',
    "*** audit activity result: logged",
    '*** workflow completed: status=COMPLETED output={"child": "paid", "audit": "logged"}',
]


def test_example_prints_what_dapr_prints(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tether", "run"),
            *("--app-id", "workflow-history-propagation", "--"),
            *(sys.executable, str(APP)),
        ],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = list(dict.fromkeys(line for line in result.stdout.splitlines() if line))
    relay = lines.pop()
    assert lines == EXAMPLE_LINES
    chain = json.loads(relay.removeprefix("*** relay: "))
    app = "workflow-history-propagation"
    assert chain == {
        "own": [f"{app}/relay_child/relay-child"],
        "lineage": [f"{app}/relay/relay-parent", f"{app}/relay_child/relay-child"],
    }


@contextlib.contextmanager
def _runtimes(sidecars: list[SidecarProcess]) -> Iterator[list[Any]]:
    import dapr.ext.workflow as wf

    made = [wf.WorkflowRuntime(host="127.0.0.1", port=str(s.grpc_port)) for s in sidecars]
    try:
        yield made
    finally:
        for runtime in made:
            with contextlib.suppress(Exception):
                runtime.shutdown()


def _client(sidecar: SidecarProcess) -> Any:
    import dapr.ext.workflow as wf

    return wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))


def _chain(ctx: Any) -> list[str]:
    history = ctx.get_propagated_history()
    if history is None:
        return ["none"]
    return [f"{w.app_id}/{w.name}" for w in history.get_workflows()]


@pytest.fixture
def two_apps(tmp_path: Path) -> Iterator[list[SidecarProcess]]:
    db = tmp_path / "shared.db"
    sidecars = [SidecarProcess(db, app_id=app).start() for app in ("shop", "bank")]
    try:
        yield sidecars
    finally:
        for sidecar in sidecars:
            sidecar.stop()


def test_lineage_across_apps_and_continue_as_new(two_apps: list[SidecarProcess]) -> None:
    """shop/order -> bank/settle (LINEAGE, continues as new once) -> shop activity (LINEAGE)."""
    import dapr.ext.workflow as wf

    shop = two_apps[0]
    with _runtimes(two_apps) as (shop_rt, bank_rt):

        @shop_rt.activity(name="audit")
        def audit(ctx: Any, _: Any) -> list[str]:
            history = ctx.get_propagated_history()
            chain = _chain(ctx)
            # The parent's own chunk holds its events up to the call, the call included.
            names = [e.taskScheduled.name for e in history.events if e.HasField("taskScheduled")]
            return [*chain, f"scheduled={','.join(names)}", f"scope={history.scope.name}"]

        @shop_rt.workflow(name="order")
        def order(ctx: Any, _: Any) -> Any:
            return (
                yield ctx.call_child_workflow(
                    "settle",
                    input=0,
                    instance_id=f"{ctx.instance_id}-settle",
                    app_id="bank",
                    propagation=wf.PropagationScope.LINEAGE,
                )
            )

        @bank_rt.workflow(name="settle")
        def settle(ctx: Any, generation: int) -> Any:
            seen = _chain(ctx)
            if generation == 0:
                ctx.continue_as_new(1)
                return None
            trail = yield ctx.call_activity(
                "audit", app_id="shop", propagation=wf.PropagationScope.LINEAGE
            )
            return {"seen": seen, "trail": trail}

        shop_rt.start()
        bank_rt.start()
        client = _client(shop)
        client.schedule_new_workflow("order", instance_id="o1")
        state = client.wait_for_workflow_completion("o1", timeout_in_seconds=60)
        assert state is not None and state.runtime_status.name == "COMPLETED", state
        got = json.loads(state.serialized_output)
    # The second generation received the first one's events on top of the parent's chunk.
    assert got["seen"] == ["shop/order", "bank/settle"]
    assert got["trail"] == [
        "shop/order",
        "bank/settle",
        "bank/settle",
        "scheduled=audit",
        "scope=LINEAGE",
    ]


def test_history_too_large_fails_the_call_clearly(tmp_path: Path) -> None:
    """A callee whose work item would not fit with the history it is handed fails at once."""
    import dapr.ext.workflow as wf

    limit = 64 * 1024
    sidecar = SidecarProcess(
        tmp_path / "t.db", app_id="big", env={"TETHER_MAX_PAYLOAD": str(limit)}
    ).start()

    def text(fraction: float) -> str:
        return "x" * int(limit * fraction)

    try:
        with _runtimes([sidecar]) as (runtime,):

            @runtime.activity(name="blob")
            def blob(ctx: Any, _: Any) -> str:
                return text(0.3)

            @runtime.activity(name="peek")
            def peek(ctx: Any, _: Any) -> list[str]:
                return _chain(ctx)

            @runtime.workflow(name="child")
            def child(ctx: Any, _: Any) -> list[str]:
                return _chain(ctx)

            @runtime.workflow(name="heavy")
            def heavy(ctx: Any, _: Any) -> Any:
                small = yield ctx.call_activity(peek, propagation=wf.PropagationScope.OWN_HISTORY)
                yield ctx.call_activity(blob)
                errors = []
                try:  # 0.3 of history + 0.4 of input, twice (the input is in both)
                    yield ctx.call_activity(
                        peek, input=text(0.4), propagation=wf.PropagationScope.OWN_HISTORY
                    )
                except wf.TaskFailedError as err:
                    errors.append(str(err))
                try:  # 0.7 of history + 0.2 of input, twice
                    yield ctx.call_child_workflow(
                        child, input=text(0.2), propagation=wf.PropagationScope.LINEAGE
                    )
                except wf.TaskFailedError as err:
                    errors.append(str(err))
                plain = yield ctx.call_child_workflow(child)
                return {"small": small, "errors": errors, "plain": plain}

            runtime.start()
            client = _client(sidecar)
            client.schedule_new_workflow("heavy", instance_id="h1")
            state = client.wait_for_workflow_completion("h1", timeout_in_seconds=60)
    finally:
        sidecar.stop()
    assert state is not None and state.runtime_status.name == "COMPLETED", state
    got = json.loads(state.serialized_output)
    assert got["small"] == ["big/heavy"]
    assert got["plain"] == ["none"]
    assert len(got["errors"]) == 2
    for error, callee in zip(got["errors"], ("activity 'peek'", "child workflow"), strict=True):
        assert f"the history propagated to {callee}" in error
        assert f"over the {limit}-byte payload limit" in error
