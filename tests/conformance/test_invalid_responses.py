"""A hand-driven worker that breaks the protocol: the instance fails with a failure detail that
says what was wrong, and nothing of the broken response is stored or dispatched."""

from __future__ import annotations

import pytest

from tests.conformance._support import FakeWorker, Raw, complete, kinds, schedule_task
from tests.conftest import wait_until
from tether import pb
from tether.testing import SidecarProcess


@pytest.mark.parametrize("status", [pb.RUNNING, pb.PENDING, pb.SUSPENDED, 42])
def test_complete_with_a_non_terminal_status_fails_the_instance(
    sidecar: SidecarProcess, status: int
) -> None:
    worker = FakeWorker(sidecar.grpc_port)
    raw = Raw(sidecar.grpc_port)
    try:
        raw.start("w", "bad-status")
        worker.respond(worker.turn(), complete(1, '"x"', status=status))
        wait_until(lambda: raw.status("bad-status") == "FAILED")
        state = raw.state("bad-status")
        assert state.failureDetails.errorType == "InvalidWorkflowResponse"
        assert "workflowStatus" in state.failureDetails.errorMessage
        assert not state.HasField("output")
        assert kinds(raw.history("bad-status"))[-1] == "executionCompleted"
    finally:
        worker.close()
        raw.close()


def test_two_actions_with_one_id_are_neither_stored_nor_dispatched(
    sidecar: SidecarProcess,
) -> None:
    worker = FakeWorker(sidecar.grpc_port)
    raw = Raw(sidecar.grpc_port)
    try:
        raw.start("w", "dup-ids")
        worker.respond(worker.turn(), schedule_task(1, "a"), schedule_task(1, "b"))
        wait_until(lambda: raw.status("dup-ids") == "FAILED")
        state = raw.state("dup-ids")
        assert "same id" in state.failureDetails.errorMessage
        assert "taskScheduled" not in kinds(raw.history("dup-ids"))
        worker.no_item(within=0.5)  # no activity went out
    finally:
        worker.close()
        raw.close()
