"""The SDK internals embedded mode drives are still shaped as it expects."""

from __future__ import annotations

from tether.embedded import _sdk


def test_the_installed_sdk_has_the_executor_shape_embedded_mode_needs() -> None:
    # Fails with a message naming the installed dapr version when the SDK changes them.
    _sdk.check_sdk_shape()


def test_a_changed_shape_is_reported_with_the_installed_version(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delattr(_sdk._worker._OrchestrationExecutor, "process_event")
    try:
        _sdk.check_sdk_shape()
    except RuntimeError as exc:
        assert _sdk.sdk_version() in str(exc)
        assert "_OrchestrationExecutor.process_event" in str(exc)
    else:
        raise AssertionError("a missing executor method went unnoticed")
