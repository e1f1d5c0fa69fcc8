#!/usr/bin/env bash
# Install the node's Debian package, check it, run the node as its systemd unit says, and
# purge it again, leaving nothing behind (so CI can run it again on the same machine).
#
#   sudo scripts/check-deb.sh target/…/atoll_<version>_<arch>.deb
#
# Where systemd is PID 1 the package's own start is checked (systemctl is-active). Where it
# is not (CI here), postinst must succeed without it and this script starts the node
# exactly as packaging/atoll.service says: User/Group, WorkingDirectory, Environment,
# ExecStart, RuntimeDirectory(+Mode), LimitNOFILE/LimitNPROC, and the hardening options
# ProtectSystem=strict + ReadWritePaths, ProtectControlGroups, ProtectHome, PrivateTmp
# emulated with a private mount namespace. A [Service] key it does not know fails the check, so the unit cannot grow an
# option this check silently ignores. Fails loudly: the first failed check exits non-zero.
set -euo pipefail

deb=${1:?usage: check-deb.sh PATH/atoll_VERSION_ARCH.deb}
pkg=atoll
user=_atoll
data=/var/lib/atoll
unit=/usr/lib/systemd/system/atoll.service
api=http://127.0.0.1:7878/api/v1

die() {
  printf 'check-deb: FAILED: %s\n' "$*" >&2
  exit 1
}
ok() { printf 'check-deb: ok: %s\n' "$*"; }
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || die "run as root"
[ -f "$deb" ] || die "no package file $deb"
deb=$(realpath "$deb")
export DEBIAN_FRONTEND=noninteractive

node_pid=
app_dir=
node_log=$(mktemp /tmp/atoll-check-deb.XXXXXX.log)
cleanup() {
  local rc=$?
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 1 90); do kill -0 "$node_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$node_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    echo "check-deb: last lines of the node's log ($node_log):" >&2
    tail -n 30 "$node_log" >&2 || true
  fi
  # Purge also after a failure: nothing of the package may stay on the machine.
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
    apt-get purge -y -qq "$pkg" >/dev/null 2>&1 || echo "check-deb: warning: purge after failure failed" >&2
  fi
  rm -f "$node_log" "$node_log.install"
  [ -z "$app_dir" ] || rm -rf "$app_dir"
  exit "$rc"
}
trap cleanup EXIT

# A leftover of an interrupted earlier run is purged first.
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
  echo "check-deb: purging an installed $pkg first"
  apt-get purge -y -qq "$pkg" >/dev/null
fi
! getent passwd "$user" >/dev/null || die "user $user exists before the install (not made by this package?)"
[ ! -e "$data" ] || die "$data exists before the install (a root node's data, e.g. scripts/demo.sh?): not touching it"
had_cni=$([ -e /var/lib/cni ] && echo yes || echo no)
app_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/apps/hello-static"
[ -f "$app_src/images/web.oci.tar" ] || die "no $app_src/images/web.oci.tar: run scripts/build-images.sh first"

# --- install -------------------------------------------------------------------------
echo "check-deb: package $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB, installed size $(dpkg-deb -f "$deb" Installed-Size) KiB"
started=$(date +%s.%N)
if ! apt-get install -y -qq "$deb" >/tmp/atoll-check-deb-apt.log 2>&1; then
  # Missing package lists (fresh machine): fetch them once and retry.
  apt-get update -qq && apt-get install -y -qq "$deb" >/tmp/atoll-check-deb-apt.log 2>&1 ||
    { cat /tmp/atoll-check-deb-apt.log >&2; die "apt-get install $deb"; }
fi
rm -f /tmp/atoll-check-deb-apt.log
ok "apt-get install in $(secs_since "$started")s"

# --- what the package put in place ------------------------------------------------------
version=$(atoll --version) || die "atoll --version"
[ "$version" = "atoll $(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')" ] || die "atoll --version says '$version'"
ok "$version"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$user") || die "no user $user"
[ "$home" = "$data" ] || die "home of $user is $home, expected $data"
[ "$shell" = /usr/sbin/nologin ] || die "shell of $user is $shell"
[ "$uid" -lt 1000 ] || die "$user is not a system user (uid $uid)"
for kind in uid gid; do
  line=$(grep "^$user:" /etc/sub$kind) || die "no /etc/sub$kind range for $user"
  [ "$(echo "$line" | cut -d: -f3)" -ge 65536 ] || die "/etc/sub$kind range of $user too small: $line"
done
ok "user $user (uid $uid), subuid $(grep "^$user:" /etc/subuid | cut -d: -f2-), subgid $(grep "^$user:" /etc/subgid | cut -d: -f2-)"

[ "$(stat -c '%U %a' "$data")" = "$user 711" ] || die "$data is $(stat -c '%U %a' "$data"), expected $user 711"
for f in storage.conf containers.conf; do
  [ "$(stat -c %U "$data/.config/containers/$f")" = "$user" ] || die "$data/.config/containers/$f missing or not owned by $user"
done
dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q '^ /etc/atoll/atoll.toml ' || die "/etc/atoll/atoll.toml is not a conffile"
[ -f "$unit" ] || die "no unit $unit"
ok "data dir, podman config, conffile /etc/atoll/atoll.toml, unit $unit"

if command -v systemd-analyze >/dev/null; then
  # Offline verification: the unit's syntax, its ExecStart binary, its dependencies.
  out=$(systemd-analyze verify "$unit" 2>&1) || { printf '%s\n' "$out" >&2; die "systemd-analyze verify $unit"; }
  [ -z "$out" ] || { printf '%s\n' "$out" >&2; die "systemd-analyze verify $unit printed warnings"; }
  ok "systemd-analyze verify $unit"
else
  echo "check-deb: systemd-analyze not installed: unit not verified"
fi

pid1=$(ps -o comm= -p 1)
if [ "$pid1" = systemd ]; then
  systemctl is-enabled --quiet atoll || die "atoll.service not enabled"
  systemctl is-active --quiet atoll || die "atoll.service not active after install"
  ok "atoll.service enabled and active (systemd is PID 1)"
else
  [ ! -e /etc/systemd/system/multi-user.target.wants/atoll.service ] ||
    ok "unit enabled for the next boot under systemd (multi-user.target.wants link)"
  [ -z "$(ps -o pid= -u "$user")" ] || die "processes of $user run after an install without systemd"
  ok "PID 1 is $pid1, not systemd: postinst succeeded without starting the service"
fi

# --- the node, run as the unit says -------------------------------------------------------
if [ "$pid1" != systemd ]; then
  declare -A svc=()
  envs=()
  section=
  while IFS= read -r line; do
    case "$line" in '' | '#'*) continue ;; '['*']') section=$line; continue ;; esac
    [ "$section" = "[Service]" ] || continue
    key=${line%%=*} value=${line#*=}
    [[ "$value" != *[\"\'\\]* ]] || die "unit line '$line': quoting is not emulated here"
    case "$key" in
      Environment) envs+=("$value") ;;
      Type | User | Group | WorkingDirectory | ExecStart | RuntimeDirectory | RuntimeDirectoryMode | \
        RuntimeDirectoryPreserve | KillMode | TimeoutStopSec | Restart | RestartSec | LimitNOFILE | \
        LimitNPROC | ProtectSystem | ReadWritePaths | ProtectControlGroups | ProtectHome | PrivateTmp)
        svc[$key]=$value
        ;;
      *) die "unit key $key is not emulated by check-deb.sh: teach it, or test under systemd" ;;
    esac
  done <"$unit"
  [ "${svc[Type]}" = simple ] && [ "${svc[KillMode]}" = process ] || die "unit Type/KillMode changed: update check-deb.sh"
  [ "${svc[ProtectSystem]}" = strict ] && [ "${svc[ProtectControlGroups]}" = yes ] &&
    [ "${svc[ProtectHome]}" = yes ] && [ "${svc[PrivateTmp]}" = yes ] ||
    die "unit hardening changed: update the emulation in check-deb.sh"
  rundir=/run/${svc[RuntimeDirectory]}
  install -d -m "${svc[RuntimeDirectoryMode]}" -o "${svc[User]}" -g "${svc[Group]}" "$rundir"
  read -r -a exec_start <<<"${svc[ExecStart]}"
  # systemd (PID 1) can raise a hard limit; this process may not (no CAP_SYS_RESOURCE in a
  # container): then the node runs with the hard limit there is, and says so.
  nofile=${svc[LimitNOFILE]} nproc=${svc[LimitNPROC]}
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$nofile" ] &&
    ! prlimit "--nofile=$nofile:$nofile" -- true 2>/dev/null; then
    echo "check-deb: note: cannot raise nofile to LimitNOFILE=$nofile here; the node runs with $(ulimit -Hn)"
    nofile=$(ulimit -Hn)
  fi

  # ProtectSystem=strict: every mount read-only except /dev, /proc, /sys, the
  # ReadWritePaths and the runtime directory; ProtectControlGroups=yes: /sys/fs/cgroup too;
  # ProtectHome=yes: /home, /root, /run/user inaccessible; PrivateTmp=yes: own /tmp and
  # /var/tmp. Remounts keep each mount's nosuid/nodev/noexec. Then the limits, the user (no
  # supplementary groups), the environment systemd gives, the command.
  harden='set -e
wd=$1 rw=$2; shift 2
for d in $rw; do mount --bind "$d" "$d"; done
while read -r _ _ _ _ mnt opts _; do
  case "$mnt" in /sys/fs/cgroup | /sys/fs/cgroup/*) ;; /dev | /dev/* | /proc | /proc/* | /sys | /sys/*) continue ;; esac
  case " $rw " in *" $mnt "*) continue ;; esac
  keep=$(printf %s "$opts" | tr , "\n" | grep -x -E "nosuid|nodev|noexec" | paste -sd, -)
  mount -o "remount,bind,ro${keep:+,$keep}" "$mnt" 2>/dev/null || echo "check-deb: cannot make $mnt read-only" >&2
done </proc/self/mountinfo
for d in /home /root /run/user; do [ -d "$d" ] || continue; mount -t tmpfs -o mode=0000,size=4k tmpfs "$d"; done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
cd "$wd"
exec "$@"'
  # An app to run: a publisher key, hello-static published into the node's data dir (the
  # node stopped, as `app publish` without --node needs) and its publisher pinned, all as
  # the service user, with the node's config.
  app_dir=$(mktemp -d /tmp/atoll-check-deb-app.XXXXXX)
  cp -r "$app_src/." "$app_dir/"
  chmod -R a+rX "$app_dir"
  as_user() { runuser -u "$user" -- env -C / HOME="$data" XDG_RUNTIME_DIR="$rundir" "$@"; }
  did=$(as_user atoll --home "$data" key new check-deb --json | sed -n 's/.*"did": *"\(did:key:[^"]*\)".*/\1/p')
  [ -n "$did" ] || die "atoll key new gave no did"
  as_user atoll --home "$data" app publish "$app_dir" --key check-deb --config /etc/atoll/atoll.toml >/dev/null || die "atoll app publish as $user"
  # A node does not fetch from itself what it published while stopped: import the bundle
  # (entry and manifest) into its catalog; the images come from its blob store.
  as_user atoll --home "$data" catalog import "$data/bundles/hello-static/entry.json" >/dev/null ||
    die "atoll catalog import of the published bundle"
  as_user atoll --home "$data" trust pin "$did" >/dev/null || die "atoll trust pin as $user"
  rm -rf "$app_dir"
  app_dir=
  ok "hello-static published by $did into $data, publisher pinned"

  started=$(date +%s.%N)
  unshare --mount --propagation slave -- sh -c "$harden" harden "${svc[WorkingDirectory]}" \
    "${svc[ReadWritePaths]} $rundir" \
    prlimit "--nofile=$nofile:$nofile" "--nproc=$nproc:$nproc" -- \
    setpriv --reuid="${svc[User]}" --regid="${svc[Group]}" --clear-groups -- \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    USER="${svc[User]}" LOGNAME="${svc[User]}" SHELL="$shell" "${envs[@]}" "${exec_start[@]}" \
    </dev/null >"$node_log" 2>&1 &
  node_pid=$!
  answered=
  for _ in $(seq 1 120); do
    kill -0 "$node_pid" 2>/dev/null || die "the node exited before answering"
    if status=$(curl -fsS --max-time 2 "$api/status" 2>/dev/null); then answered=1; break; fi
    sleep 0.5
  done
  [ -n "$answered" ] || die "no answer from $api/status"
  ok "node (pid $node_pid) answers $api/status after $(secs_since "$started")s: $status"
  [ "$(awk '/^Uid:/ { print $2 }' "/proc/$node_pid/status")" = "$uid" ] || die "the node does not run as $user"
  echo "$status" | grep -q "\"version\":\"${version#atoll }\"" || die "status does not carry version ${version#atoll }"
  [ "$(stat -c '%U %a' "$data/admin.token")" = "$user 600" ] || die "admin token missing or not $user 0600"
  ok "node runs as $user; admin token $data/admin.token is 0600 $user"

  info=$(atoll-podman info --format '{{.Host.Security.Rootless}} {{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}}') ||
    die "podman info as $user (atoll-podman info)"
  [ "$info" = "true overlay runc $data/.local/share/containers/storage" ] || die "podman info as $user says: $info"
  ok "rootless podman of $user: $info"
  # The node's own podman API service (it starts one when the socket does not answer).
  sock=$rundir/podman/podman.sock
  ping=
  for _ in $(seq 1 60); do
    ping=$(curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping 2>/dev/null) && break
    sleep 0.5
  done
  [ "$ping" = OK ] || die "the node's podman API socket $sock does not answer"
  ok "the node's podman API service answers on $sock"
  grep -q . "$node_log" || die "the node logged nothing at ATOLL_LOG=info (the journal would be empty)"
  # The node sees the hardened file system: / read-only, its data dir writable.
  root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$node_pid/mountinfo" | tail -n 1)
  data_opts=$(awk -v d="$data" '$5 == d { print $6 }' "/proc/$node_pid/mountinfo" | tail -n 1)
  [[ "$root_opts" == ro* && "$data_opts" == rw* ]] || die "hardening not in place: / is '$root_opts', $data is '$data_opts'"
  ! grep -q "cannot make" "$node_log" || die "emulated ProtectSystem incomplete: $(grep "cannot make" "$node_log" | head -3)"

  # The whole path under that hardening: install (the image from the node's blobs into
  # _atoll's podman), health-gated start, HTTP on the published port, uninstall --purge.
  app="$did/hello-static"
  started=$(date +%s.%N)
  # Synced from the embedded relay, then its manifest fetched over iroh (from this node).
  fetched=
  for _ in $(seq 1 120); do
    if curl -fsS --max-time 2 "$api/apps/$app" 2>/dev/null | grep -q '"manifest":{'; then fetched=1; break; fi
    sleep 0.5
  done
  [ -n "$fetched" ] || die "the node never fetched the manifest of $app"
  as_user atoll --home "$data" install "$app" --json >"$node_log.install" 2>&1 ||
    { cat "$node_log.install" >&2; die "atoll install $app through the node"; }
  page=$(curl -fsS --max-time 5 http://127.0.0.1:18080/) || die "hello-static does not answer on 127.0.0.1:18080"
  ok "installed $app in $(secs_since "$started")s; it answers HTTP ($(printf %s "$page" | wc -c) bytes)"
  atoll-podman ps --format '{{.Names}} {{.Status}}' | grep -q . || die "no container in $user's podman"
  as_user atoll --home "$data" uninstall "$app" --purge --json >"$node_log.install" 2>&1 ||
    { cat "$node_log.install" >&2; die "atoll uninstall $app"; }
  rm -f "$node_log.install"
  [ -z "$(atoll-podman ps -a --format '{{.Names}}')" ] || die "containers left after uninstall: $(atoll-podman ps -a --format '{{.Names}}')"
  ok "uninstalled: no container left"

  kill -TERM "$node_pid"
  rc=0
  wait "$node_pid" || rc=$?
  node_pid=
  [ "$rc" -eq 0 ] || die "the node exited $rc on SIGTERM"
  ok "node stopped on SIGTERM, exit 0"
fi

# --- purge: nothing stays ---------------------------------------------------------------
started=$(date +%s.%N)
purge_out=$(apt-get purge -y -qq "$pkg" 2>&1) || { printf '%s\n' "$purge_out" >&2; die "apt-get purge $pkg"; }
ok "apt-get purge in $(secs_since "$started")s"
! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed || die "$pkg still installed"
! getent passwd "$user" >/dev/null || die "user $user left behind"
! getent group "$user" >/dev/null || die "group $user left behind"
! grep -q "^$user:" /etc/subuid /etc/subgid || die "subordinate ids of $user left behind"
for p in "$data" /run/atoll /etc/atoll "$unit" /usr/bin/atoll /usr/sbin/atoll-podman \
  /etc/systemd/system/multi-user.target.wants/atoll.service; do
  [ ! -e "$p" ] || die "$p left behind"
done
[ "$had_cni" = yes ] || [ ! -e /var/lib/cni ] || die "/var/lib/cni (made by postinst) left behind"
[ -z "$(ps -o pid= -u "$uid" 2>/dev/null)" ] || die "processes of uid $uid left behind: $(ps -o pid=,comm= -u "$uid")"
ok "purged: no user, subids, files or processes left"
