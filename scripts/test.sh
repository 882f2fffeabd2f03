#!/usr/bin/env bash
# Runs Pactum's whole test suite: every crate's unit and integration tests, on SQLite always and on
# PostgreSQL when one is reachable (PACTUM_TEST_PG_URL, or a local server at 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PACTUM_TEST_PG_URL:-}" ] && command -v psql >/dev/null 2>&1; then
  candidate="postgres://postgres@127.0.0.1:5432/postgres"
  if psql "$candidate" -qtAc 'SELECT 1' >/dev/null 2>&1; then
    export PACTUM_TEST_PG_URL="$candidate"
  fi
fi
if [ -n "${PACTUM_TEST_PG_URL:-}" ]; then
  echo "==> PostgreSQL backend: testing against PACTUM_TEST_PG_URL"
else
  echo "==> PostgreSQL backend: SKIPPED (no server reachable; set PACTUM_TEST_PG_URL=postgres://… to include it)"
fi

# Peppol invoices are validated against the OASIS UBL 2.1 schemas, fetched once by ubl-schemas.sh.
if ubl_xsd=$(scripts/ubl-schemas.sh); then
  export PACTUM_UBL_XSD="$ubl_xsd"
else
  echo "==> UBL 2.1 schemas could not be fetched: the Peppol validation fails on CI and is skipped elsewhere"
fi

status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?

# Browser tests in headless Chromium (the consent widget and Pactum's pages). e2e/run.sh installs
# Debian's chromium and the npm packages it needs when they are missing; it never downloads a browser.
echo "==> browser tests (e2e/run.sh)"
cargo build -p pactum -p pactum-testkit --bins --locked
PACTUM_BIN="$PWD/target/debug/pactum" e2e/run.sh 2>&1 | tee -a "$log" || status=$?

# The JSON API against its OpenAPI document: no 5xx, documented statuses, types and schemas.
echo "==> API fuzzing (scripts/api-fuzz.sh, schemathesis)"
PACTUM_BIN="$PWD/target/debug/pactum" scripts/api-fuzz.sh || status=$?

if [ -n "${PACTUM_TEST_PG_URL:-}" ] && command -v psql >/dev/null 2>&1; then
  # Each test case made a schema of its own; remove them now that the run is over.
  psql "$PACTUM_TEST_PG_URL" -qtAc "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pactum\_test\_%'" 2>/dev/null |
    while read -r schema; do
      [ -n "$schema" ] && psql "$PACTUM_TEST_PG_URL" -qc "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null 2>&1 || true
    done
fi
if [ -z "${PACTUM_TEST_PG_URL:-}" ]; then
  echo "==> NOTE: the PostgreSQL backend was SKIPPED in this run"
fi
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     /^# pass / { p += $3 } /^# fail / { f += $3 } /^# skipped / { s += $3 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
