#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (the official SDK against real tether processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
# The JavaScript SDK test (tests/js) needs Node.js and npm; the SDK itself comes from npm.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing nodejs and npm"
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "tests/js needs Node.js and npm: sudo apt-get install nodejs npm" >&2
    fi
fi
echo "== ruff"
.venv/bin/ruff check src tests bench examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest -p no:cacheprovider "$@"
