#!/usr/bin/env bash
# Build the sample apps' container images as OCI image-layout archives, offline and
# without podman, so that the same inputs always give the same bytes.
#
#   scripts/build-images.sh            # every app under apps/
#   scripts/build-images.sh notebook   # only the named apps
#
# Inputs, for each app apps/<id>/:
#   image-src/<container>/       a rootfs overlay (www/index.html, cgi-bin scripts, ...);
#                                a file's executable bit is kept, every other mode normalised
#   image-src/<container>.cmd    optional: the image's default command, one argument a line
#                                (the manifest's `command` overrides it at run time)
# Output: apps/<id>/images/<container>.oci.tar (gitignored) holding
#   oci-layout, index.json, blobs/sha256/{manifest, config, layer}
# The single uncompressed layer has /bin/busybox (Debian's busybox-static), applet symlinks
# in /bin, a minimal /etc, /tmp and the overlay. The image is named in index.json as
# localhost/atoll/<id>-<container>:<version>; its podman image id is the config digest.
#
# Needs bash, coreutils, GNU tar and busybox-static (scripts/setup-host.sh installs it).
set -euo pipefail
export LC_ALL=C
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
apps_dir="$root/apps"
busybox="${ATOLL_BUSYBOX:-/bin/busybox}"

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

manifest_field() { # manifest.yml key -> top-level scalar value
  sed -n "s/^$2:[[:space:]]*\(.*\)$/\1/p" "$1" | head -n1 | sed 's/[[:space:]]*#.*$//; s/^"\(.*\)"$/\1/; s/[[:space:]]*$//'
}

build_one() { # app_dir container
  local app_dir=$1 container=$2 id version work rootfs layout out tmp_out
  id=$(basename "$app_dir")
  version=$(manifest_field "$app_dir/manifest.yml" version)
  [[ "$version" =~ ^[0-9A-Za-z.+-]+$ ]] || die "$app_dir/manifest.yml: no usable version"
  [[ "$container" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || die "container name '$container' is not DNS-safe"

  work="$work_root/$id/$container"
  rootfs="$work/rootfs"
  layout="$work/layout"
  mkdir -p "$rootfs"/{bin,etc,root,tmp} "$layout/blobs/sha256"

  # --- rootfs ---
  cp "$busybox" "$rootfs/bin/busybox"
  for a in "${applets[@]}"; do
    ln -s busybox "$rootfs/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  # --remove-destination: an overlay file named like an applet replaces the link, not busybox.
  cp -R --no-preserve=all --remove-destination -- "$app_dir/image-src/$container/." "$rootfs/"
  # Keep only the source's executable bits, so a checkout's umask does not show in the layer.
  (cd "$app_dir/image-src/$container" && find . -type f -perm /111 -print0) |
    (cd "$rootfs" && xargs -0 -r chmod 0755)
  find "$rootfs" -type d -exec chmod 0755 {} +
  chmod 0755 "$rootfs/bin/busybox"
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"

  # --- layer, config, manifest, index ---
  local names layer_d layer_s cmd config_d config_s manifest_d manifest_s ref
  mapfile -t names < <(find "$rootfs" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
  det_tar "$work/layer.tar" "$rootfs" "${names[@]}"
  layer_s=$(size "$work/layer.tar")
  layer_d=$(add_blob "$layout" "$work/layer.tar")

  cmd='["/bin/sh"]'
  if [ -f "$app_dir/image-src/$container.cmd" ]; then
    cmd=$({ grep -v '^[[:space:]]*$' "$app_dir/image-src/$container.cmd" || true; } | json_array)
    [ "$cmd" != '[]' ] || die "$app_dir/image-src/$container.cmd is empty"
  fi
  printf '{"architecture":"%s","config":{"Cmd":%s,"Env":["PATH=/bin"],"Labels":{"org.opencontainers.image.title":%s,"org.opencontainers.image.version":%s},"WorkingDir":"/"},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"atoll scripts/build-images.sh"}],"os":"linux","rootfs":{"diff_ids":["sha256:%s"],"type":"layers"}}' \
    "$arch" "$cmd" "$(json_str "$id/$container")" "$(json_str "$version")" "$layer_d" >"$work/config.json"
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
  out="$app_dir/images/$container.oci.tar"
  mkdir -p "$app_dir/images"
  tmp_out="$work/out.tar"
  det_tar "$tmp_out" "$layout" blobs index.json oci-layout
  if [ -f "$out" ] && cmp -s "$tmp_out" "$out"; then
    status=unchanged
  else
    mv -f "$tmp_out" "$out"
    status=built
  fi
  printf '%-9s %s  %7s KiB  sha256:%s  image-id %s  %s\n' "$status" "${out#"$root"/}" \
    "$(($(size "$out") / 1024))" "$(sha256 "$out")" "${config_d:0:12}" "$ref"
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
  mapfile -t containers < <(cd "$app_dir/image-src" && for d in */; do [ -d "$d" ] && printf '%s\n' "${d%/}"; done | sort)
  [ "${#containers[@]}" -gt 0 ] || die "$app_dir/image-src/ has no container directories"
  for c in "${containers[@]}"; do
    build_one "$app_dir" "$c"
    count=$((count + 1))
  done
done
echo "build-images: $count image archive(s) ok"
