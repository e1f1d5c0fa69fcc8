#!/usr/bin/env bash
# Install the third-party Nostr relay the discovery tests run against: the PyPI package
# `nostr-relay` (SQLite storage), plus `coincurve` for an independent BIP-340 check of the
# events atoll publishes. Installed once into a venv under ~/.cache and reused across runs.
#
#   scripts/install-test-relay.sh        # prints the venv's bin dir on success
#
# The tests find it at $ATOLL_TEST_RELAY_VENV (default ~/.cache/atoll-nostr-relay-venv).
set -euo pipefail

venv="${ATOLL_TEST_RELAY_VENV:-${HOME:-/root}/.cache/atoll-nostr-relay-venv}"
stamp="$venv/.atoll-installed-v1"
python="${PYTHON:-python3}"

if [ -f "$stamp" ] && "$venv/bin/nostr-relay" --help >/dev/null 2>&1 \
  && "$venv/bin/python" -c 'import coincurve' >/dev/null 2>&1; then
  echo "$venv/bin"
  exit 0
fi

if ! command -v "$python" >/dev/null || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
fi
command -v "$python" >/dev/null || { echo "install-test-relay: $python is missing (apt-get install python3 python3-venv)" >&2; exit 1; }
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check 'nostr-relay==1.14' 'coincurve>=20'
"$venv/bin/nostr-relay" --help >/dev/null
"$venv/bin/python" -c 'import coincurve'
touch "$stamp"
echo "$venv/bin"
