#!/usr/bin/env bash
# The main job: the Dapr docs' hello_world_wf app under `tether run`, on the default embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tether run --app-id hello-world -- .venv/bin/python examples/hello_world/app.py
