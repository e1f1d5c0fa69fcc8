#!/usr/bin/env bash
# Screenshots of every UI page (desktop and 390 px phone width) of a demo node with two apps
# installed, as root after scripts/build-images.sh and a build: bash scripts/ui-shots.sh OUTDIR
# (BIN= overrides the binary). Uses loopback ports 7978-7980; removes what it installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/debug/atoll}
OUT=$(realpath -m "${1:?usage: ui-shots.sh OUTDIR}"); mkdir -p "$OUT"
W=$(mktemp -d)
cat > $W/atoll.toml <<T
listen = "127.0.0.1:7978"
[relays]
embedded_port = 7979
[iroh]
bind = "127.0.0.1:7980"
T
ATOLL_PODMAN_TAG=ui-shots $BIN --home $W node --demo --config $W/atoll.toml --apps "$ROOT/apps" > $W/node.log 2>&1 &
PID=$!
trap 'kill $PID; wait $PID; rm -rf "$W"' EXIT
API=http://127.0.0.1:7978/api/v1
for _ in $(seq 120); do [ -f $W/admin.token ] && curl -sf $API/status >/dev/null && break; sleep 1; done
T=$(cat $W/admin.token)
DID=$(curl -s $API/status | jq -r .demo_publisher)
for _ in $(seq 300); do [ "$(curl -s $API/apps | jq '.items|length')" -ge 10 ] && break; sleep 1; done
job() { # POST $1 with JSON $2 and wait for the job's done event
  local j; j=$(curl -s -H "Authorization: Bearer $T" -H 'content-type: application/json' -X POST "$API$1" -d "$2" | jq -r .job)
  curl -sN -H "Authorization: Bearer $T" "$API/jobs/$j/events" | grep -m1 '"done":true' >/dev/null || true
}
for app in hello-static two-tier; do job /actions/install "{\"app\":\"$DID/$app\"}"; done
node "$ROOT/tests/browser/tour.mjs" "http://127.0.0.1:7978/ui/#token=$T" "$OUT" "$DID/two-tier"
for app in two-tier hello-static; do job /actions/uninstall "{\"app\":\"$DID/$app\",\"purge\":true}"; done
