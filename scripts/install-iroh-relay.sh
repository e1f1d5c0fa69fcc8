#!/usr/bin/env bash
# Install the iroh project's relay server (`iroh-relay`, the crate's `server` feature) that
# the multi-host tests run as a self-hosted iroh relay. Built once from crates.io (about
# 5 minutes on 2 cores) into a directory under ~/.cache keyed by its version, and reused.
#
#   scripts/install-iroh-relay.sh        # prints the path of the binary on success
#
# The tests find it at $ATOLL_IROH_RELAY (default: the path this script prints).
set -euo pipefail

version="1.4.1"   # the iroh version of Cargo.lock: client and server speak the same protocol
root="${ATOLL_IROH_RELAY_ROOT:-${HOME:-/root}/.cache/atoll-iroh-relay-$version}"
bin="$root/bin/iroh-relay"

if [ -x "$bin" ] && "$bin" --help >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
if ! command -v cargo >/dev/null && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
# Its own target dir, so a failed build never leaves a half-installed binary behind.
CARGO_TARGET_DIR="$root.build" cargo install --quiet --locked --root "$root" \
  "iroh-relay@$version" --features server >&2
rm -rf "$root.build"
"$bin" --help >/dev/null
echo "$bin"
