#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test of the workspace.
#   scripts/test.sh
# The podman smoke test (tests/podman_smoke.rs) needs a host prepared by
# `sudo scripts/setup-host.sh`; it fails, never skips, without one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# One target dir outside the checkout, so CI runs on fresh clones reuse earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/atoll-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v cargo >/dev/null && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

started=$SECONDS
section() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "cargo test (target dir $CARGO_TARGET_DIR)"
cargo test --workspace --locked

section "all checks passed in $((SECONDS - started))s"
