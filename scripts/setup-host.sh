#!/usr/bin/env bash
# Prepare this Debian 12 host for rootless podman, as atoll uses it.
#
# Run as root. Idempotent: a second run changes nothing and takes about a second.
#   sudo scripts/setup-host.sh
#
# What it does (facts behind each step: shared/design/PODMAN-NOTES.md):
#   1. installs podman and its helpers from Debian (runc, not crun: crun fails on cgroups v1
#      hybrid) plus busybox-static and mmdebstrap (scripts/build-images.sh builds the sample
#      images from them);
#   2. creates the non-root user that runs every container (ATOLL_PODMAN_USER, default
#      "atoll") with subuid/subgid ranges;
#   3. writes that user's storage.conf (overlay) and containers.conf (runc, cgroupfs, file
#      events, ulimits the user namespace allows) BEFORE its first podman call;
#   4. creates /run/user/<uid> (there is no logind here) and opens /dev/net/tun to the user
#      (port publishing needs it);
#   5. checks that `podman info` works for the user and uses overlay + runc.
#
# Run podman as that user from root with:
#   runuser -u atoll -- env -C / XDG_RUNTIME_DIR=/run/user/<uid> podman ...
set -euo pipefail

user="${ATOLL_PODMAN_USER:-atoll}"
# nproc above this fails inside the user namespace (PODMAN-NOTES.md).
nproc_cap=32768
packages=(podman runc conmon uidmap slirp4netns catatonit netavark aardvark-dns
  iptables busybox-static mmdebstrap debian-archive-keyring curl ca-certificates)

started=$(date +%s.%N)
done_steps=()
step() { done_steps+=("$*"); }
die() {
  printf 'setup-host: error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "ATOLL_PODMAN_USER='$user' is not a valid user name"
[ "$user" != root ] || die "ATOLL_PODMAN_USER must not be root: atoll runs podman rootless"

# --- 1. packages ------------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: they would pull buildah, fuse-overlayfs (does not work here), dbus.
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  step "installed: ${missing[*]}"
fi
command -v podman >/dev/null || die "podman is not on PATH after install"

# --- 2. the user ------------------------------------------------------------------------
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh --comment "atoll rootless podman" "$user"
  step "created user $user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)
[ -d "$home" ] || die "home of $user ($home) does not exist"

# useradd on Debian 12 usually allocates subordinate ids; add a free range if it did not.
next_free_range() { # file -> first id after every range in it (at least 100000)
  awk -F: 'BEGIN { m = 100000 } NF >= 3 { e = $2 + $3; if (e > m) m = e } END { print m }' "$1"
}
for kind in uid gid; do
  file=/etc/sub$kind
  touch "$file"
  if ! grep -q "^$user:" "$file" && ! grep -q "^$uid:" "$file"; then
    start=$(next_free_range "$file")
    usermod "--add-sub${kind}s" "$start-$((start + 65535))" "$user"
    step "added sub$kind range $start-$((start + 65535)) for $user"
  fi
done

# The node (root) and the tests read through the home; the user's own files keep their modes.
if [ "$(stat -c %a "$home")" != 755 ]; then
  chmod 0755 "$home"
  step "made $home traversable (0755)"
fi

# --- 3. runtime dir, tun ----------------------------------------------------------------
rundir="/run/user/$uid"
if [ ! -d "$rundir" ]; then
  install -d -m 0755 -o root -g root /run/user
  install -d -m 0700 -o "$uid" -g "$gid" "$rundir"
  step "created $rundir"
elif [ "$(stat -c '%u %a' "$rundir")" != "$uid 700" ]; then
  chown "$uid:$gid" "$rundir"
  chmod 0700 "$rundir"
  step "fixed owner/mode of $rundir"
fi

[ -c /dev/net/tun ] || die "/dev/net/tun is missing: slirp4netns cannot publish ports"
# 0666 is the usual mode on Debian with udev; opening tun grants nothing without CAP_NET_ADMIN
# in the owning namespace, so this only lets the user's own namespaces make devices.
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 0666 /dev/net/tun
  step "made /dev/net/tun usable by $user (0666)"
fi

# --- 4. podman config, before the first podman call --------------------------------------
as_user() { runuser -u "$user" -- env -C / HOME="$home" XDG_RUNTIME_DIR="$rundir" "$@"; }

confdir="$home/.config/containers"
if [ ! -d "$confdir" ]; then
  as_user mkdir -p "$confdir"
  step "created $confdir"
fi

# write_conf PATH CONTENT: replace PATH (owned by the user, 0644) only if CONTENT differs.
write_conf() {
  local path=$1 content=$2
  if [ ! -f "$path" ] || [ "$(cat "$path")" != "$content" ]; then
    printf '%s\n' "$content" >"$path.tmp"
    chown "$uid:$gid" "$path.tmp"
    chmod 0644 "$path.tmp"
    mv -f "$path.tmp" "$path"
    step "wrote $path"
  fi
}

write_conf "$confdir/storage.conf" '# Written by atoll scripts/setup-host.sh: without it storage falls back to vfs.
[storage]
driver = "overlay"'

engine_conf='[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"'
header='# Written by atoll scripts/setup-host.sh (see shared/design/PODMAN-NOTES.md).'

# Without ulimits first: `podman unshare` starts no container, so the defaults do not matter
# for the probe. Keep an existing file (from an earlier run) while probing.
if [ ! -f "$confdir/containers.conf" ]; then
  write_conf "$confdir/containers.conf" "$header
$engine_conf"
fi

limits=$(as_user podman unshare bash -c 'ulimit -Hn; ulimit -Hu') || die "podman unshare failed for $user"
nofile=$(printf '%s\n' "$limits" | sed -n 1p)
nproc=$(printf '%s\n' "$limits" | sed -n 2p)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=$nproc_cap
[[ "$nofile" =~ ^[0-9]+$ && "$nproc" =~ ^[0-9]+$ ]] || die "unexpected ulimit probe output: $limits"
[ "$nproc" -gt "$nproc_cap" ] && nproc=$nproc_cap

write_conf "$confdir/containers.conf" "$header
[containers]
# Probed with: podman unshare bash -c 'ulimit -Hn; ulimit -Hu' (nproc capped at $nproc_cap).
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

$engine_conf"

# --- 5. check ---------------------------------------------------------------------------
info=$(as_user podman info --format '{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Version.Version}}') ||
  die "podman info failed for $user"
read -r driver runtime version <<<"$info"
[ "$driver" = overlay ] || die "storage driver is '$driver', expected overlay (was podman used before storage.conf existed? reset with: runuser -u $user -- env -C / XDG_RUNTIME_DIR=$rundir podman system reset -f)"
[ "$runtime" = runc ] || die "OCI runtime is '$runtime', expected runc"

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "${#done_steps[@]}" -eq 0 ]; then
  echo "setup-host: already set up, nothing changed"
else
  printf 'setup-host: %s\n' "${done_steps[@]}"
fi
echo "setup-host: ok in ${elapsed}s: podman $version, $driver, $runtime, ulimits nofile=$nofile nproc=$nproc"
echo "setup-host: user $user (uid $uid), XDG_RUNTIME_DIR=$rundir; tests read ATOLL_PODMAN_USER=$user"
