#!/usr/bin/env bash
# Build the Debian package of the node (cargo-deb, release profile).
#
#   scripts/build-deb.sh            # prints the path of the .deb on its last line
#
# cargo-deb is installed once into ~/.cache/atoll-cargo-deb-<version> (cargo install
# --locked) and reused; the release build goes to $CARGO_TARGET_DIR, default
# ~/.cache/atoll-target-release, so a second run rebuilds only what changed.
# Packaging files: packaging/ (unit, maintainer scripts, default config); the package's
# metadata: [package.metadata.deb] in the root Cargo.toml. Checked by scripts/check-deb.sh.
set -euo pipefail

cargo_deb_version=3.8.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
tool_root="$cache/atoll-cargo-deb-$cargo_deb_version"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/atoll-target-release}"

die() {
  printf 'build-deb: error: %s\n' "$*" >&2
  exit 1
}
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

started=$(date +%s.%N)
if [ ! -x "$tool_root/bin/cargo-deb" ] ||
  [ "$("$tool_root/bin/cargo-deb" --version 2>/dev/null | awk '{print $NF}')" != "$cargo_deb_version" ]; then
  echo "build-deb: installing cargo-deb $cargo_deb_version into $tool_root"
  # Its own target dir: the project's release cache must not mix with the tool's build.
  CARGO_TARGET_DIR="$tool_root.build" cargo install cargo-deb --locked \
    --version "=$cargo_deb_version" --root "$tool_root" ||
    die "cargo install cargo-deb $cargo_deb_version failed"
  rm -rf "$tool_root.build"
  echo "build-deb: cargo-deb installed in $(secs_since "$started")s"
fi

cd "$root"
build_started=$(date +%s.%N)
# --locked: the lock file is the one the tests ran with. cargo-deb runs cargo build --release.
out=$("$tool_root/bin/cargo-deb" --locked -p atoll 2>&1) || {
  printf '%s\n' "$out" >&2
  die "cargo deb failed"
}
printf '%s\n' "$out" | grep -v '^$' | tail -n 5 >&2
deb=$(printf '%s\n' "$out" | tail -n 1)
[ -f "$deb" ] || die "cargo deb did not name a package file (last line: $deb)"
echo "build-deb: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $(secs_since "$build_started")s" >&2
echo "$deb"
