#!/usr/bin/env bash
# Build the local OS base (debian:<release>-slim) and the systemd "bare host" image
# used by Molecule and the lab. Cached: each image is rebuilt only when its inputs change.
#
#   scripts/host-image.sh [--base-only] [release ...]      (default: bookworm)
#
# The OS base is pulled when a registry answers; otherwise it is built with mmdebstrap
# from a plain-HTTP Debian mirror (DEBIAN_MIRROR) and imported under the same name, so
# Dockerfiles saying `FROM debian:<release>-slim` build unchanged in both cases.
# Prints the host image tag of each release on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_only=false
if [ "${1:-}" = --base-only ]; then base_only=true; shift; fi
releases=("$@"); [ ${#releases[@]} -gt 0 ] || releases=(bookworm)

log() { echo "host-image: $*" >&2; }

os_base() {
  local release=$1 ref="debian:$1-slim" tmp
  if docker image inspect "$ref" >/dev/null 2>&1; then return 0; fi
  if timeout 60 docker pull -q "$ref" >/dev/null 2>&1; then log "pulled $ref"; return 0; fi
  command -v mmdebstrap >/dev/null || {
    log "no registry answers and mmdebstrap is missing: apt-get install -y mmdebstrap"; exit 1; }
  log "no registry: building $ref with mmdebstrap from $mirror (about a minute)"
  tmp=$(mktemp -d)
  mmdebstrap --quiet --variant=minbase --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$release" "$tmp/rootfs.tar" \
    "deb $mirror $release main" "deb $mirror $release-updates main" \
    "deb $security $release-security main" >&2
  docker import --change 'CMD ["bash"]' "$tmp/rootfs.tar" "$ref" >/dev/null
  rm -rf "$tmp"
}

for release in "${releases[@]}"; do
  os_base "$release"
  if $base_only; then continue; fi
  # Content key: the Dockerfile and the ID of the OS base it starts from.
  key=$( { cat "$here/images/host/Dockerfile"; docker image inspect -f '{{.Id}}' "debian:$release-slim"; } \
         | sha256sum | cut -c1-12)
  tag="analytics-platform/host:$release-$key"
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "building $tag"
    docker build -q --build-arg "DEBIAN_RELEASE=$release" -t "$tag" "$here/images/host" >/dev/null
  fi
  docker tag "$tag" "analytics-platform/host:$release"
  echo "$tag"
done
