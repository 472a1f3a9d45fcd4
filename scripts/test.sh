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
exec .venv/bin/pytest -p no:cacheprovider "$@"
