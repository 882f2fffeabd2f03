#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the OpenAPI document of a freshly started Pactum: no 5xx, and
# every response matches the documented status codes, content types and schemas.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${PACTUM_BIN:-$PWD/target/debug/pactum}"
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
dir=$(mktemp -d)
mkdir -p "$dir/data"
out="$dir/stdout"
# A token for the write endpoints, so they are fuzzed past authentication too.
token=$("$bin" token create --data-dir "$dir/data" --name api-fuzz --scope catalogue:write --scope certification 2>/dev/null)
"$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --consent-rate-limit 100000 >"$out" 2>"$dir/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
base=""
for _ in $(seq 1 100); do
  base=$(grep -o 'http://127.0.0.1:[0-9]*' "$out" | head -n 1 || true)
  [ -n "$base" ] && break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "api-fuzz: pactum did not start" >&2
  cat "$dir/stderr" >&2
  exit 1
fi
python3 -m schemathesis.cli run "$base/api/v1/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --header "Authorization: Bearer $token" \
  --max-examples 50 --seed 20261125 --no-color
