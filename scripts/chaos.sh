#!/usr/bin/env bash
# The long chaos run: seeded fault schedules (dropped, duplicated, delayed and reordered work
# items and completions; worker and sidecar SIGKILLs) over the SDK patterns, each checked
# against a fault-free run. A failing seed is printed with the command that replays it.
#   bash scripts/chaos.sh                  # seeds 0-299
#   bash scripts/chaos.sh --seeds 17,42    # replay
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
exec .venv/bin/python -m tests.chaos.runner "$@"
