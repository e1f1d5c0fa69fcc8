#!/usr/bin/env bash
# Run an atoll node with the demo apps, from a fresh Debian 12 checkout, as root:
#   sudo bash scripts/demo.sh [extra `atoll node` flags, e.g. --listen 127.0.0.1:8080]
# It prepares rootless podman for the user `atoll` (scripts/setup-host.sh), builds the
# release binary, builds the sample images offline, and starts `atoll node --demo`:
# marketplace on http://127.0.0.1:7878, data in /var/lib/atoll. Ctrl-C stops the node;
# installed apps keep running and are adopted by the next start.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (sudo bash scripts/demo.sh): it sets up rootless podman for the user atoll" >&2; exit 1; }
if ! command -v cargo >/dev/null && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
bash scripts/setup-host.sh
bash scripts/build-images.sh
cargo build --release --locked
target_dir=${CARGO_TARGET_DIR:-$root/target}
exec "$target_dir/release/atoll" node --demo --apps "$root/apps" "$@"
