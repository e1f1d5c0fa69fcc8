#!/usr/bin/env bash
# Install what the browser test (tests/browser/marketplace.mjs, run by tests/node.rs)
# needs: Debian's chromium (no browser download: playwright-core drives /usr/bin/chromium)
# and the pinned npm packages of tests/browser. Run as root; idempotent and quick when done.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v chromium >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "setup-browser: run as root to install chromium" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
command -v node >/dev/null || { echo "setup-browser: Node.js (node, npm) is required" >&2; exit 1; }
cd "$root/tests/browser"
# npm ci installs exactly package-lock.json; it is quick when node_modules is current.
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup-browser: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version')"
