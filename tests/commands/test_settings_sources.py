"""Where each setting comes from: flag, then environment, then Dapr's files, then default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cli.main import build_parser
from tether.cli.sidecar_args import resolve
from tether.errors import ConfigError
from tether.settings import Settings

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
spec:
  tracing:
    samplingRate: "0.25"
    otel:
      endpointAddress: "localhost:4317"
      isSecure: false
      protocol: grpc
  workflow:
    maxConcurrentWorkflowInvocations: 7
    maxConcurrentActivityInvocations: 9
    stateRetentionPolicy:
      anyTerminal: 72h
      failed: 30m
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    for key in (
        "TETHER_MAX_CONCURRENT_WORKFLOWS",
        "TETHER_MAX_CONCURRENT_ACTIVITIES",
        "TETHER_CONFIG",
        "TETHER_STORE",
        "TETHER_MAX_PAYLOAD",
        "APP_PORT",
        "TETHER_LOG_LEVEL",
    ):
        monkeypatch.delenv(key, raising=False)


def _settings(*argv: str) -> Settings:
    return resolve(build_parser().parse_args(["serve", *argv])).settings


def test_configuration_file_fills_the_workflow_and_tracing_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    settings = _settings("--config", str(config))
    assert settings.max_concurrent_workflows == 7
    assert settings.max_concurrent_activities == 9
    assert settings.retention_for("FAILED") == 1800
    assert settings.retention_for("COMPLETED") == 72 * 3600
    assert settings.tracing_sampling_rate == 0.25
    assert settings.tracing_endpoint == "localhost:4317"
    assert settings.tracing_protocol == "grpc"
    assert settings.tracing_secure is False


def test_environment_beats_the_file_and_flags_beat_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("TETHER_MAX_CONCURRENT_WORKFLOWS", "2")
    monkeypatch.setenv("TETHER_MAX_PAYLOAD", "2048")
    monkeypatch.setenv("APP_PORT", "7000")
    settings = _settings("--config", str(config), "--max-body-size", "8Mi", "--app-port", "8000")
    assert settings.max_concurrent_workflows == 2
    assert settings.max_concurrent_activities == 9
    assert settings.max_payload_bytes == 8 * 1024 * 1024
    assert settings.app_port == 8000
    assert _settings().max_payload_bytes == 2048
    assert _settings().app_port == 7000


def test_defaults_without_files(tmp_path: Path) -> None:
    settings = _settings()
    assert settings.max_concurrent_workflows == 0
    assert settings.retention_seconds == ()
    assert settings.store_source == "default"
    assert settings.refuse_duplicate_start is False


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--app-protocol", "smtp"], {}, "app_protocol: 'smtp' is not one of"),
        (["--max-body-size", "lots"], {}, "max_body_size: 'lots' is not a size"),
        ([], {"TETHER_MAX_CONCURRENT_ACTIVITIES": "many"}, "TETHER_MAX_CONCURRENT_ACTIVITIES"),
        ([], {"TETHER_REFUSE_DUPLICATE_START": "maybe"}, "TETHER_REFUSE_DUPLICATE_START"),
    ],
)
def test_a_bad_value_names_its_key(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        _settings(*argv)
    assert message in info.value.message
