#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (the official SDK against real tether processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,otel,postgres
bash scripts/system-deps.sh
echo "== ruff"
.venv/bin/ruff check src tests bench examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# Two workers (one per core of the CI machine), whole files to a worker: module fixtures start
# once, and most tests wait on subprocesses and fsyncs rather than the CPU.
exec .venv/bin/pytest -p no:cacheprovider -n "${TETHER_TEST_WORKERS:-2}" --dist loadfile "$@"
