#!/usr/bin/env bash
# Browser tests of the consent widget: the real Pactum binary, a partner site on another origin, and
# Debian's headless Chromium driven by playwright-core. No tool here ever downloads a browser.
#   e2e/run.sh                      build pactum (if needed) and run every test
#   e2e/run.sh tests/gpc.test.mjs   run some of them
#   PACTUM_BIN=/path/to/pactum      use that binary and skip the build
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$here"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "e2e: installing Debian's chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/axe-core/axe.min.js ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
if [ -z "${PACTUM_BIN:-}" ]; then
  (cd "$repo" && cargo build -p pactum)
fi

if [ "$#" -eq 0 ]; then set -- tests/*.test.mjs; fi
exec node --test --test-concurrency=1 --test-timeout=180000 "$@"
