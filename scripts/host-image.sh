#!/usr/bin/env bash
# Build the local OS base (debian:<release>-slim) and the systemd "bare host" image
# used by Molecule and the lab. Cached: each image is rebuilt only when its inputs change.
#
#   scripts/host-image.sh [--base-only] [release ...]      (default: bookworm)
#   scripts/host-image.sh --docker "PACKAGES" [release ...]
#
# --docker builds analytics-platform/host-docker:<release> instead: the host with those
# packages installed (roles/lab_hosts passes the docker role's list).
#
# The OS base is pulled when a registry answers; otherwise it is built with mmdebstrap
# from a plain-HTTP Debian mirror (DEBIAN_MIRROR) and imported under the same name, so
# Dockerfiles saying `FROM debian:<release>-slim` build unchanged in both cases.
# Prints the host image tag of each release on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_only=false docker_packages=""
if [ "${1:-}" = --base-only ]; then base_only=true; shift; fi
if [ "${1:-}" = --docker ]; then docker_packages=${2:?--docker needs the package list}; shift 2; fi
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
  # Content key: the Dockerfile, the ID of the OS base it starts from, the packages.
  key=$( { cat "$here/images/host/Dockerfile"; docker image inspect -f '{{.Id}}' "debian:$release-slim"
           echo "$docker_packages"; } | sha256sum | cut -c1-12)
  if [ -n "$docker_packages" ]; then name=host-docker target=docker; else name=host target=bare; fi
  tag="analytics-platform/$name:$release-$key"
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "building $tag"
    docker build -q --target "$target" --build-arg "DEBIAN_RELEASE=$release" \
      --build-arg "DOCKER_PACKAGES=$docker_packages" -t "$tag" "$here/images/host" >/dev/null
  fi
  docker tag "$tag" "analytics-platform/$name:$release"
  echo "$tag"
done
