#!/usr/bin/env bash
# Debian packages the test suite needs, installed in one apt-get call when any is missing:
#   faketime    the clock-skew tests run one tether node under libfaketime
#   nodejs npm  the JavaScript SDK test (tests/js); the SDK itself comes from npm
#   postgresql  the PostgreSQL backend's tests start throwaway clusters from its server binaries
#   chromium    the dashboard's browser tests (driven by Playwright, no browser download)
set -euo pipefail
missing=()
command -v faketime >/dev/null || missing+=(faketime)
{ command -v node >/dev/null && command -v npm >/dev/null; } || missing+=(nodejs npm)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "warning: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]});" \
        "the tests that need them will fail" >&2
fi
