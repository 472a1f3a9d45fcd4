#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (the official SDK against real tether processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,postgres
bash scripts/install-postgres.sh
# The clock-skew tests run one tether node under libfaketime (Debian package faketime).
if ! command -v faketime >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq faketime >/dev/null
    else
        echo "warning: faketime is missing (sudo apt-get install faketime); the clock tests will fail" >&2
    fi
fi
echo "== ruff"
.venv/bin/ruff check src tests bench examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest -p no:cacheprovider "$@"
