#!/usr/bin/env bash
# PostgreSQL's server for the tests (tether.testing.postgres runs throwaway clusters from it).
# Debian's package starts a system cluster on port 5432 when installed; the tests never use it
# (each test session runs its own cluster on a free loopback port), so it is stopped again.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || command -v postgres >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL's server is not installed; the PostgreSQL tests will fail." >&2
    echo "Install it (sudo apt-get install postgresql) or run with --backends sqlite." >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header | while read -r version name _; do
        pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
fi
