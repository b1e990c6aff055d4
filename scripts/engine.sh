#!/usr/bin/env bash
# Make sure a Docker engine answers. When none does and we are root on Debian/Ubuntu,
# install what the project needs (docker.io, mmdebstrap, zstd, pigz) and start dockerd.
set -euo pipefail
answers() { timeout 10 docker info >/dev/null 2>&1; }
if answers; then echo "engine: Docker answers ($(docker info -f '{{.ServerVersion}}'))"; exit 0; fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<'MSG'
engine: no Docker engine answers, and this is not root on Debian/Ubuntu, so I will not
install one. Fix: start Docker (e.g. `sudo systemctl start docker`, or install Docker
Engine: https://docs.docker.com/engine/install/), make sure `docker info` works for this
user, then re-run.
MSG
  exit 1
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v zstd >/dev/null || need+=(zstd)
command -v pigz >/dev/null || need+=(pigz)
if [ ${#need[@]} -gt 0 ]; then
  echo "engine: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if command -v systemctl >/dev/null && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  systemctl start docker
elif pgrep -x dockerd >/dev/null; then
  echo "engine: dockerd is running but not answering yet; waiting"
else
  # A dockerd that died leaves its pid file behind, and a new one refuses to start.
  rm -f /var/run/docker.pid
  echo "engine: starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >>/var/log/dockerd.log 2>&1 < /dev/null &
fi
for _ in $(seq 60); do answers && break; sleep 1; done
answers || { echo "engine: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2; exit 1; }
echo "engine: Docker answers ($(docker info -f '{{.ServerVersion}}'))"
