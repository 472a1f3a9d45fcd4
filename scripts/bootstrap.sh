#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install tether with the given extras. Sourced by the other scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "tether needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        # Debian splits venv out of the interpreter package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        else
            echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)" >&2
            exit 1
        fi
        rm -rf .venv && "$PY" -m venv .venv
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
SPEC="."
[ -n "$EXTRAS" ] && SPEC=".[${EXTRAS}]"
.venv/bin/python -m pip install -q -e "$SPEC" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import tether, dapr.ext.workflow" >/dev/null
# The dashboard's browser tests drive Debian's Chromium through Playwright (which never
# downloads a browser here): install it with the dev extras when missing and we may.
if [[ ",${EXTRAS}," == *",dev,"* ]] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "warning: /usr/bin/chromium is missing; the dashboard browser tests need it" \
            "(sudo apt-get install chromium)" >&2
    fi
fi
