#!/usr/bin/env bash
# Makes a Docker engine answer on this machine (Debian docker.io + docker-compose; dockerd started
# in the background when none answers, bounded wait) and builds the local base images offline
# (docker/build-local-images.sh). Exit 1 with the reason when Docker cannot be had: the caller
# goes on without it and the container tests report themselves skipped with their reason.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERD_WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}
DOCKERD_LOG=${DOCKERD_LOG:-${TMPDIR:-/tmp}/appview-firehose-dockerd.log}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  echo "== installing docker.io docker-compose"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon outlives this script and is not in CI's process group.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq "$DOCKERD_WAIT_SECONDS"); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not answer within ${DOCKERD_WAIT_SECONDS}s; last log lines:" >&2
    tail -n 5 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
fi
echo "== docker $(docker version -f '{{.Server.Version}}') ($(docker info -f '{{.Driver}}'))"
docker/build-local-images.sh
