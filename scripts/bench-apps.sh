#!/usr/bin/env bash
# Per-app benchmark, as root after scripts/build-images.sh and a build (BIN=, APPS= override):
# two nodes on loopback, A (the demo publisher of every app in APPS) and B (follows A's
# relay, pins A's publisher, installs every app from the swarm: its blobs come from A over
# iroh). Prints per app the install time (POST to the job's done event), a backup, and a
# restore onto the stopped app; then uninstalls with purge and stops both nodes.
set -uo pipefail
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/atoll}
APPS=${APPS:-$(cd "$(dirname "$0")/.." && pwd)/apps}
W=$(mktemp -d); mkdir -p $W/a $W/b
cat > $W/a/atoll.toml <<T
listen = "127.0.0.1:7978"
[relays]
embedded_port = 7979
[iroh]
bind = "127.0.0.1:7980"
T
cat > $W/b/atoll.toml <<T
listen = "127.0.0.1:7988"
[relays]
embedded_port = 7989
external = ["ws://127.0.0.1:7979"]
[iroh]
bind = "127.0.0.1:7990"
T
ATOLL_PODMAN_TAG=measure-a $BIN --home $W/a node --demo --config $W/a/atoll.toml --apps $APPS > $W/a.log 2>&1 &
PA=$!
ATOLL_PODMAN_TAG=measure-b $BIN --home $W/b node --config $W/b/atoll.toml > $W/b.log 2>&1 &
PB=$!
trap 'kill $PA $PB; wait; rm -rf "$W"' EXIT
for i in $(seq 120); do [ -f $W/a/admin.token ] && [ -f $W/b/admin.token ] && curl -sf http://127.0.0.1:7978/api/v1/status >/dev/null && curl -sf http://127.0.0.1:7988/api/v1/status > /dev/null && break; sleep 1; done
TB=$(cat $W/b/admin.token)
DID=$(curl -s http://127.0.0.1:7978/api/v1/status | jq -r .demo_publisher)
echo "publisher $DID"
B(){ curl -s -H "Authorization: Bearer $TB" -H 'content-type: application/json' "$@"; }
B -X POST http://127.0.0.1:7988/api/v1/trust/pin -d "{\"did\":\"$DID\",\"note\":\"measure\"}" >/dev/null
for i in $(seq 600); do n=$(curl -s http://127.0.0.1:7988/api/v1/apps | jq '[.items[]|select(.description!="")]|length'); [ "$n" -ge 10 ] && break; sleep 1; done
echo "catalog on B: $n apps"
now(){ date +%s.%N; }
job(){ # $1 = JSON with .job ; waits for the done event, prints the last event
  local j; j=$(echo "$1" | jq -r .job)
  [ "$j" = null ] && { echo "NOJOB $1"; return 1; }
  B -N "http://127.0.0.1:7988/api/v1/jobs/$j/events" | grep '^data:' | tail -1 | cut -c6- | jq -c '{stage,message}' | cut -c1-300
}
for app in mariadb adminer hello-static notebook two-tier radicale syncthing transmission mosquitto mediawiki; do
  ref="$DID/$app"
  t0=$(now); r=$(B -X POST http://127.0.0.1:7988/api/v1/actions/install -d "{\"app\":\"$ref\"}"); out=$(job "$r"); t1=$(now)
  printf 'INSTALL %s %.1f s %s\n' $app $(echo "$t1-$t0"|bc) "$out"
done
curl -s http://127.0.0.1:7988/api/v1/installed | jq -c '.items[]|{app:.app,state,health}' 2>/dev/null | cut -c1-200
for app in mariadb adminer hello-static notebook two-tier radicale syncthing transmission mosquitto mediawiki; do
  ref="$DID/$app"
  t0=$(now); r=$(B -X POST http://127.0.0.1:7988/api/v1/backups -d "{\"app\":\"$ref\"}"); out=$(job "$r"); t1=$(now)
  printf 'BACKUP %s %.1f s %s\n' $app $(echo "$t1-$t0"|bc) "$out"
done
for app in adminer hello-static notebook two-tier radicale syncthing transmission mosquitto mediawiki mariadb; do
  ref="$DID/$app"
  id=$(B http://127.0.0.1:7988/api/v1/backups | jq -r --arg s "$ref" '[.items[]|select(.source==$s and .reason=="manual")][0]|.id')
  job "$(B -X POST http://127.0.0.1:7988/api/v1/actions/stop -d "{\"app\":\"$ref\"}")" >/dev/null
  t0=$(now); r=$(B -X POST http://127.0.0.1:7988/api/v1/backups/$id/restore); out=$(job "$r"); t1=$(now)
  printf 'RESTORE %s %.1f s %s\n' $app $(echo "$t1-$t0"|bc) "$out"
  job "$(B -X POST http://127.0.0.1:7988/api/v1/actions/start -d "{\"app\":\"$ref\"}")" >/dev/null
done
for app in adminer mediawiki hello-static notebook two-tier radicale syncthing transmission mosquitto mariadb; do
  job "$(B -X POST http://127.0.0.1:7988/api/v1/actions/uninstall -d "{\"app\":\"$DID/$app\",\"purge\":true}")" | sed "s/^/UNINSTALL $app /"
done
