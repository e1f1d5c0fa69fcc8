#!/usr/bin/env bash
# Build the sample apps' container images as OCI image-layout archives, without podman or
# an image registry, so that the same inputs always give the same bytes.
#
#   scripts/build-images.sh            # every app under apps/
#   scripts/build-images.sh notebook   # only the named apps
#
# Inputs, for each app apps/<id>/ and each of its containers (apps/README.md has the details):
#   image-src/<container>/          a rootfs overlay (www/index.html, config files, ...);
#                                   a file's executable bit is kept, every other mode normalised
#   image-src/<container>.cmd       optional: the image's default command, one argument a line
#                                   (the manifest's `command` overrides it at run time)
#   image-src/<container>.packages  Debian mode: one Debian 12 (bookworm) package per line
#                                   (# comments); without it the image is a busybox one
#   image-src/<container>.setup     Debian mode, optional: a bash script run on the host after
#                                   the packages and the overlay are in place, in the image's
#                                   root (its working directory, and $1): users, dirs, removals
#   image-src/<container>.same-as   `<app>/<container>`: this image is that one, byte for byte
# Output: apps/<id>/images/<container>.oci.tar (gitignored) holding
#   oci-layout, index.json, blobs/sha256/{manifest, config, layer}
# Busybox mode: the single uncompressed layer has /bin/busybox (Debian's busybox-static),
# applet symlinks in /bin, a minimal /etc, /tmp and the overlay.
# Debian mode: the packages and their dependencies extracted by mmdebstrap (--variant=extract:
# no maintainer scripts, no apt or dpkg in the image), without docs, man pages, locales,
# gconv modules, apt/dpkg state, caches and logs; then the overlay and the setup script.
# The image is named in index.json as localhost/atoll/<id>-<container>:<version>; its podman
# image id is the config digest. Files keep their numeric owners; every time is 1970-01-01.
#
# Debian images are cached in ${ATOLL_IMAGE_CACHE:-~/.cache/atoll-images}/<key>/, the key
# hashing this script, the container's inputs, the app's id and version, the architecture
# and the package versions apt resolves now (so a Debian security update or an input change
# rebuilds, nothing else does). ATOLL_IMAGE_CACHE=off builds without the cache.
#
# Needs bash, coreutils, GNU tar and busybox-static; Debian mode also root, mmdebstrap, apt,
# debian-archive-keyring (scripts/setup-host.sh installs them), unshare (util-linux) and the
# Debian mirror (ATOLL_DEBIAN_MIRROR, ATOLL_DEBIAN_SECURITY; default deb.debian.org).
set -euo pipefail
export LC_ALL=C
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
apps_dir="$root/apps"
busybox="${ATOLL_BUSYBOX:-/bin/busybox}"
script="$root/scripts/build-images.sh"
debian_suite=bookworm
debian_mirror="${ATOLL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
debian_security="${ATOLL_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
debian_keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cache_root="${ATOLL_IMAGE_CACHE:-${HOME:-/root}/.cache/atoll-images}"
# Cache entries not used for this many days are removed at the end of a run.
cache_keep_days=30

die() {
  printf 'build-images: error: %s\n' "$*" >&2
  exit 1
}

# The applets every image gets as /bin/<name> -> busybox. A fixed list (not `busybox --list`)
# so the layer does not change with the busybox build's configuration.
applets=(
  '[' ash awk basename cat chmod cp cut date dirname echo env expr false grep head hostname
  httpd id kill ls mkdir mktemp mv nc nslookup printf ps pwd rm sed seq sh sha256sum sleep
  sort stat tail tee test timeout touch tr true uname uniq wc wget
)

[ -x "$busybox" ] || die "$busybox is missing: apt-get install busybox-static (or run sudo scripts/setup-host.sh)"
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked: install busybox-static, not busybox"
fi
busybox_applets=$'\n'$("$busybox" --list)$'\n'
for a in "${applets[@]}"; do
  [[ "$busybox_applets" == *$'\n'"$a"$'\n'* ]] || die "$busybox has no applet '$a'"
done
[[ "$(tar --version)" == *'GNU tar'* ]] || die "GNU tar is needed"

# The image's architecture is the host's, in Debian's (and OCI's) spelling.
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac

# Deterministic tar: sorted names, fixed times and owners, no pax time records.
det_tar() { # out_file dir names...
  local out=$1 dir=$2
  shift 2
  tar --create --file="$out" --directory="$dir" --format=gnu --sort=name --mtime=@0 \
    --owner=0 --group=0 --numeric-owner --no-acls --no-xattrs --no-selinux -- "$@"
}

# The same, keeping each file's numeric owner (Debian images have users besides root).
det_tar_owned() { # out_file dir names...
  local out=$1 dir=$2
  shift 2
  tar --create --file="$out" --directory="$dir" --format=gnu --sort=name --mtime=@0 \
    --numeric-owner --no-acls --no-xattrs --no-selinux -- "$@"
}

json_str() { # string -> JSON string literal
  local s=$1
  [[ "$s" != *[$'\x01'-$'\x1f']* ]] || die "control character in '$s'"
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

json_array() { # lines on stdin -> JSON array of strings
  local first=1 line out='['
  while IFS= read -r line || [ -n "$line" ]; do
    [ "$first" = 1 ] || out+=','
    out+=$(json_str "$line")
    first=0
  done
  printf '%s]' "$out"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# add_blob layout_dir file -> digest (moves the file into blobs/sha256/)
add_blob() {
  local d
  d=$(sha256 "$2")
  mv -f "$2" "$1/blobs/sha256/$d"
  printf '%s' "$d"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

manifest_field() { # manifest.yml key -> top-level scalar value
  sed -n "s/^$2:[[:space:]]*\(.*\)$/\1/p" "$1" | head -n1 | sed 's/[[:space:]]*#.*$//; s/^"\(.*\)"$/\1/; s/[[:space:]]*$//'
}

# --- Debian mode -----------------------------------------------------------------------

debian_sources=(
  "deb [signed-by=$debian_keyring] $debian_mirror $debian_suite main"
  "deb [signed-by=$debian_keyring] $debian_mirror $debian_suite-updates main"
  "deb [signed-by=$debian_keyring] $debian_security $debian_suite-security main"
)
# Paths dpkg does not extract (copyright files stay: they go with the binaries).
debian_excludes=(
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian/*
  /usr/share/linda/* /usr/share/bug/* /usr/share/bash-completion/* /usr/share/zsh/*
  "/usr/lib/$(uname -m)-linux-gnu/gconv/*"
)
apt_opts=()

# An apt of our own (empty dpkg status, only the Debian sources) to resolve what
# mmdebstrap will extract; its index is fetched once per run.
apt_prepare() {
  [ "${#apt_opts[@]}" -eq 0 ] || return 0
  [ "$(id -u)" -eq 0 ] ||
    die "Debian images are built as root (mmdebstrap --mode=root, a private mount namespace): sudo $script"
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap (or run sudo scripts/setup-host.sh)"
  command -v apt-get >/dev/null || die "apt-get is missing: Debian mode needs a Debian host"
  [ -f "$debian_keyring" ] || die "$debian_keyring is missing: apt-get install debian-archive-keyring"
  local d="$work_root/apt"
  mkdir -p "$d"/etc/apt.conf.d "$d"/etc/preferences.d "$d"/lists/partial "$d"/cache/archives/partial
  : >"$d/status"
  printf '%s\n' "${debian_sources[@]}" >"$d/etc/sources.list"
  apt_opts=(-o "Dir::Etc=$d/etc" -o "Dir::State=$d" -o "Dir::State::Lists=$d/lists"
    -o "Dir::State::status=$d/status" -o "Dir::Cache=$d/cache" -o "APT::Architecture=$arch"
    -o "APT::Architectures=$arch" -o "APT::Install-Recommends=false" -o "Acquire::Languages=none"
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=true")
  local t0
  t0=$(now)
  apt-get "${apt_opts[@]}" -qq update || die "apt-get update from $debian_mirror failed"
  echo "build-images: Debian $debian_suite package index fetched in $(since "$t0")s"
}

read_packages() { # file -> package names, one a line ("-name": a dependency left out)
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [ -n "$line" ] || continue
    [[ "$line" =~ ^-?[a-z0-9][a-z0-9+.-]+$ ]] || die "$1: '$line' is not a Debian package name"
    printf '%s\n' "$line"
  done <"$1"
}

resolve_packages() { # packages... -> "name=version" lines (the closure, dependencies included)
  local out
  out=$(apt-get "${apt_opts[@]}" -s install "$@" 2>&1) || die "cannot resolve packages $*: $out"
  printf '%s\n' "$out" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' | sort
}

tree_digest() { # dir -> what of the dir goes into an image: names, kinds, exec bits, contents
  [ -d "$1" ] || return 0
  (cd "$1" && find . -mindepth 1 \( -type d -printf 'd %p\n' -o -type l -printf 'l %p -> %l\n' \
    -o -type f -perm /111 -printf 'x %p\n' -o -type f -printf 'f %p\n' \) | sort &&
    find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# Extract the resolved packages into rootfs, trim it, then overlay and setup.
debian_rootfs() { # app_dir container rootfs resolved_file
  local app_dir=$1 container=$2 rootfs=$3 resolved=$4 src="$1/image-src/$2" r=$3 opts=() e
  for e in "${debian_excludes[@]}"; do
    opts+=("--dpkgopt=path-exclude=$e")
  done
  opts+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
  local log="$work_root/mmdebstrap.log"
  # Exactly the resolved versions (the cache key names them); the .debs stay for the removals.
  SOURCE_DATE_EPOCH=0 mmdebstrap --mode=root --variant=extract --format=directory \
    --architectures="$arch" --include="$(paste -sd, "$resolved")" "${opts[@]}" \
    --skip=cleanup/apt/cache "$debian_suite" "$rootfs" "${debian_sources[@]}" >"$log" 2>&1 ||
    die "mmdebstrap failed for ${app_dir#"$root"/}/$container: $(tail -n 20 "$log")"

  # Everything after the extraction runs confined to the image root (a private mount
  # namespace in which every other mount is read-only): a symlink in the image, or a
  # mistake in a .setup script, cannot touch the build host.
  export -f debian_finish overlay die
  confined "$r" bash -euo pipefail -c 'debian_finish "$@"' debian_finish "$src" "$resolved" \
    "$work/dropped" >"$log" 2>&1 ||
    die "finishing the image of ${src#"$root"/} failed: $(tail -n 20 "$log")"
}

# confined root cmd...: run cmd in root (its working directory) with every mount except
# root read-only, in a private mount namespace, so nothing outside root can change.
confined() {
  local r=$1
  shift
  unshare --mount --propagation private -- bash -euo pipefail -c '
    r=$1; shift
    mount --bind "$r" "$r"
    while read -r _ m _; do
      m=$(printf "%b" "$m")
      [ "$m" = "$r" ] || mount -o remount,bind,ro "$m" 2>/dev/null || true
    done < <(sort -k2,2r /proc/self/mounts)
    if touch /.atoll-build-probe 2>/dev/null; then
      rm -f /.atoll-build-probe
      echo "could not make / read-only for the confined step" >&2
      exit 1
    fi
    cd "$r"
    exec "$@"' confined "$r" "$@"
}

# In the image root (the working directory, confined): drop the left-out dependencies,
# trim what a container never needs, write users, the overlay and the setup.
debian_finish() { # src resolved dropped
  local src=$1 resolved=$2 dropped=$3 p deb
  # Dependencies the app does not use ("-name" lines): their files (not directories) go.
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    deb=$(find var/cache/apt/archives -maxdepth 1 -name "${p}_*.deb" | head -n1)
    [ -n "$deb" ] || die "-$p: mmdebstrap left no ${p}_*.deb to read its file list from"
    dpkg-deb --fsys-tarfile "$deb" | tar -t -f - | sed -n 's|^\./\(.*[^/]\)$|\1|p' |
      xargs -r -d '\n' rm -f --
  done <"$dropped"

  # What a container gets from podman at run time, or never needs.
  rm -rf var/cache/* var/lib/apt var/lib/dpkg var/log/* etc/apt etc/dpkg dev/* run/* tmp/* \
    etc/machine-id etc/ld.so.cache etc/hostname etc/resolv.conf etc/mtab
  # Directories the excludes emptied.
  find usr/share -mindepth 1 -type d -empty -delete
  mkdir -p dev proc sys run tmp root etc var/tmp usr/share/atoll
  chmod 1777 tmp var/tmp
  chmod 0700 root
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >etc/passwd
  printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
  printf 'root:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n' >etc/shadow
  chmod 0644 etc/passwd etc/group
  chmod 0640 etc/shadow
  # The package list, for whoever audits the image (no dpkg database in it).
  tr '=' ' ' <"$resolved" >usr/share/atoll/packages
  if [ -d "$src" ]; then
    overlay "$src" .
  fi
  if [ -f "$src.setup" ]; then
    bash -euo pipefail "$src.setup" "$PWD"
  fi
}

# --- both modes ------------------------------------------------------------------------

overlay() { # src_dir rootfs: copy, keeping only the source's executable bits
  local src=$1 r=$2
  # --remove-destination: an overlay file named like a link replaces the link, not its target.
  cp -R --no-preserve=all --remove-destination -- "$src/." "$r/"
  # Keep only the source's executable bits, so a checkout's umask does not show in the layer.
  (cd "$src" && find . -type f -perm /111 -print0) | (cd "$r" && xargs -0 -r chmod 0755)
  (cd "$src" && find . -type f ! -perm /111 -print0) | (cd "$r" && xargs -0 -r chmod 0644)
  (cd "$src" && find . -mindepth 1 -type d -print0) | (cd "$r" && xargs -0 -r chmod 0755)
}

busybox_rootfs() { # app_dir container rootfs
  local app_dir=$1 container=$2 rootfs=$3
  mkdir -p "$rootfs"/{bin,etc,root,tmp}
  cp "$busybox" "$rootfs/bin/busybox"
  for a in "${applets[@]}"; do
    ln -s busybox "$rootfs/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  overlay "$app_dir/image-src/$container" "$rootfs"
  find "$rootfs" -type d -exec chmod 0755 {} +
  chmod 0755 "$rootfs/bin/busybox"
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
}

# The containers an app has images for: overlay dirs and Debian / same-as inputs.
app_containers() { # app_dir
  (cd "$1/image-src" && for f in *; do
    if [ -d "$f" ]; then
      printf '%s\n' "$f"
    elif [[ "$f" == *.packages || "$f" == *.same-as ]]; then
      printf '%s\n' "${f%.*}"
    fi
  done | sort -u)
}

declare -A done_images=()

build_one() { # app_dir container
  local app_dir=$1 container=$2 id version work rootfs layout out tmp_out src mode t0 key=
  id=$(basename "$app_dir")
  src="$app_dir/image-src/$container"
  out="$app_dir/images/$container.oci.tar"
  [ -z "${done_images[$id/$container]:-}" ] || return 0
  version=$(manifest_field "$app_dir/manifest.yml" version)
  [[ "$version" =~ ^[0-9A-Za-z.+-]+$ ]] || die "$app_dir/manifest.yml: no usable version"
  [[ "$container" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || die "container name '$container' is not DNS-safe"
  t0=$(now)

  # --- the same image as another app's ---
  if [ -f "$src.same-as" ]; then
    local other other_app other_c
    other=$(tr -d '[:space:]' <"$src.same-as")
    [[ "$other" =~ ^([a-z0-9-]+)/([a-z0-9-]+)$ ]] || die "${src#"$root"/}.same-as: '$other' is not <app>/<container>"
    other_app=${BASH_REMATCH[1]}
    other_c=${BASH_REMATCH[2]}
    [ ! -f "$apps_dir/$other_app/image-src/$other_c.same-as" ] || die "${src#"$root"/}.same-as: $other is itself a same-as image"
    [ ! -e "$src" ] && [ ! -e "$src.packages" ] && [ ! -e "$src.cmd" ] && [ ! -e "$src.setup" ] ||
      die "${src#"$root"/}.same-as: an image that is another's has no inputs of its own"
    [ -f "$apps_dir/$other_app/manifest.yml" ] || die "${src#"$root"/}.same-as: no app $other_app"
    build_one "$apps_dir/$other_app" "$other_c"
    mkdir -p "$app_dir/images"
    if [ -f "$out" ] && cmp -s "$apps_dir/$other_app/images/$other_c.oci.tar" "$out"; then
      status=unchanged
    else
      cp -f "$apps_dir/$other_app/images/$other_c.oci.tar" "$out.tmp"
      mv -f "$out.tmp" "$out"
      status=same-as
    fi
    report "$out" "$status" "(= $other)"
    done_images[$id/$container]=1
    return 0
  fi

  work="$work_root/$id/$container"
  rootfs="$work/rootfs"
  layout="$work/layout"
  mkdir -p "$work" "$layout/blobs/sha256"
  mkdir -p "$app_dir/images"
  mode=busybox
  if [ -f "$src.packages" ]; then
    mode=debian
    apt_prepare
    local pkgs=() drop=() p resolved="$work/resolved"
    read_packages "$src.packages" >"$work/wanted"
    while IFS= read -r p; do
      if [[ "$p" == -* ]]; then drop+=("${p#-}"); else pkgs+=("$p"); fi
    done <"$work/wanted"
    [ "${#pkgs[@]}" -gt 0 ] || die "${src#"$root"/}.packages names no package"
    resolve_packages "${pkgs[@]}" >"$resolved"
    [ -s "$resolved" ] || die "${src#"$root"/}.packages: apt resolved nothing"
    for p in "${drop[@]}"; do
      cut -d= -f1 "$resolved" | grep -qxF -- "$p" ||
        die "${src#"$root"/}.packages: -$p: no package of the image depends on $p (remove the line)"
    done
    printf '%s\n' "${drop[@]}" >"$work/dropped"
    key=$({
      echo "builder $(sha256 "$script")"
      echo "arch $arch suite $debian_suite"
      echo "image $id/$container $version"
      for f in packages setup cmd; do
        [ -f "$src.$f" ] && echo "$f $(sha256 "$src.$f")"
      done
      tree_digest "$src"
      cat "$resolved"
    } | sha256sum | cut -c1-32)
    if [ "$cache_root" != off ] && [ -f "$cache_root/$key/image.oci.tar" ]; then
      touch "$cache_root/$key"
      if [ -f "$out" ] && cmp -s "$cache_root/$key/image.oci.tar" "$out"; then
        status=unchanged
      else
        cp -f "$cache_root/$key/image.oci.tar" "$out.tmp"
        mv -f "$out.tmp" "$out"
        status=cached
      fi
      report "$out" "$status" "(debian, cache $key, $(since "$t0")s)"
      done_images[$id/$container]=1
      return 0
    fi
    debian_rootfs "$app_dir" "$container" "$rootfs" "$resolved"
  else
    [ -d "$src" ] || die "${src#"$root"/}/ is missing"
    busybox_rootfs "$app_dir" "$container" "$rootfs"
  fi

  # --- layer, config, manifest, index ---
  local names layer_d layer_s cmd config_d config_s manifest_d manifest_s ref env
  mapfile -t names < <(find "$rootfs" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
  if [ "$mode" = debian ]; then
    det_tar_owned "$work/layer.tar" "$rootfs" "${names[@]}"
    env='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
    cmd='["/bin/false"]'
  else
    det_tar "$work/layer.tar" "$rootfs" "${names[@]}"
    env='"PATH=/bin"'
    cmd='["/bin/sh"]'
  fi
  layer_s=$(size "$work/layer.tar")
  layer_d=$(add_blob "$layout" "$work/layer.tar")

  if [ -f "$src.cmd" ]; then
    cmd=$({ grep -v '^[[:space:]]*$' "$src.cmd" || true; } | json_array)
    [ "$cmd" != '[]' ] || die "$src.cmd is empty"
  fi
  printf '{"architecture":"%s","config":{"Cmd":%s,"Env":[%s],"Labels":{"org.opencontainers.image.title":%s,"org.opencontainers.image.version":%s},"WorkingDir":"/"},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"atoll scripts/build-images.sh"}],"os":"linux","rootfs":{"diff_ids":["sha256:%s"],"type":"layers"}}' \
    "$arch" "$cmd" "$env" "$(json_str "$id/$container")" "$(json_str "$version")" "$layer_d" >"$work/config.json"
  config_s=$(size "$work/config.json")
  config_d=$(add_blob "$layout" "$work/config.json")

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_d" "$config_s" "$layer_d" "$layer_s" >"$work/manifest.json"
  manifest_s=$(size "$work/manifest.json")
  manifest_d=$(add_blob "$layout" "$work/manifest.json")

  ref="localhost/atoll/$id-$container:$version"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":%s}}]}' \
    "$manifest_d" "$manifest_s" "$(json_str "$ref")" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  find "$layout" -type d -exec chmod 0755 {} +
  find "$layout" -type f -exec chmod 0644 {} +

  # --- archive: replace the old one only if the bytes differ ---
  tmp_out="$work/out.tar"
  det_tar "$tmp_out" "$layout" blobs index.json oci-layout
  if [ -n "$key" ] && [ "$cache_root" != off ]; then
    mkdir -p "$cache_root/$key"
    cp -f "$tmp_out" "$cache_root/$key/image.oci.tar.tmp"
    mv -f "$cache_root/$key/image.oci.tar.tmp" "$cache_root/$key/image.oci.tar"
    printf '%s\n' "$ref" >"$cache_root/$key/ref"
  fi
  if [ -f "$out" ] && cmp -s "$tmp_out" "$out"; then
    status=unchanged
  else
    mv -f "$tmp_out" "$out"
    status=built
  fi
  rm -rf "$work"
  [ "$cache_root" != off ] || key=
  report "$out" "$status" "($mode${key:+, cache $key}, $(since "$t0")s)"
  done_images[$id/$container]=1
}

report() { # archive status note: one line with size, sha256, podman image id and name
  local out=$1 index manifest config ref
  index=$(tar -xOf "$out" index.json)
  manifest=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' <<<"$index")
  ref=$(sed -n 's/.*"org.opencontainers.image.ref.name":"\([^"]*\)".*/\1/p' <<<"$index")
  config=$(tar -xOf "$out" "blobs/sha256/$manifest" | sed -n 's/.*"config":{[^}]*"digest":"sha256:\([0-9a-f]*\)".*/\1/p')
  printf '%-9s %s  %7s KiB  sha256:%s  image-id %s  %s %s\n' "$2" "${out#"$root"/}" \
    "$(($(size "$out") / 1024))" "$(sha256 "$out")" "${config:0:12}" "$ref" "$3"
}

[ -d "$apps_dir" ] || die "no apps/ directory at $apps_dir"
work_root=$(mktemp -d)
trap 'rm -rf "$work_root"' EXIT
if [ "$#" -gt 0 ]; then
  app_ids=("$@")
else
  mapfile -t app_ids < <(cd "$apps_dir" && for d in */; do [ -d "$d/image-src" ] && printf '%s\n' "${d%/}"; done | sort)
fi
[ "${#app_ids[@]}" -gt 0 ] || die "no apps with image-src/ under $apps_dir"

count=0
for id in "${app_ids[@]}"; do
  app_dir="$apps_dir/$id"
  [ -f "$app_dir/manifest.yml" ] || die "$app_dir/manifest.yml is missing"
  [ -d "$app_dir/image-src" ] || die "$app_dir/image-src/ is missing"
  mapfile -t containers < <(app_containers "$app_dir")
  [ "${#containers[@]}" -gt 0 ] || die "$app_dir/image-src/ has no container directories or .packages files"
  for c in "${containers[@]}"; do
    build_one "$app_dir" "$c"
    count=$((count + 1))
  done
done
if [ "$cache_root" != off ] && [ -d "$cache_root" ]; then
  find "$cache_root" -mindepth 1 -maxdepth 1 -type d -mtime "+$cache_keep_days" -exec rm -rf {} +
fi
echo "build-images: $count image archive(s) ok"
