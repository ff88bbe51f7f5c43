#!/usr/bin/env bash
# Runs the production example (examples/docker-compose.yml) with docker-compose.test.yml on top,
# for real, once, bounded: builds the runtime image (offline, on the local base images, from what
# `npm ci` made), runs the stack until the runner has verified the firehose service's stream,
# then removes it (down -v). The scenarios run on the host in `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_TIMEOUT_SECONDS=${COMPOSE_TIMEOUT_SECONDS:-300}
compose=(docker-compose --project-directory . -p appview-firehose-ci -f examples/docker-compose.yml -f docker-compose.test.yml)
log=$(mktemp)
trap '"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; rm -f "$log"' EXIT

start=$(date +%s)
status=0
timeout "$COMPOSE_TIMEOUT_SECONDS" "${compose[@]}" up --build --abort-on-container-exit --exit-code-from runner >"$log" 2>&1 || status=$?
seconds=$(($(date +%s) - start))
if [ "$status" -eq 0 ]; then
  "${compose[@]}" logs --no-color runner | sed 's/^runner_1 *| //' | grep -v '^$' || true
  # The image holds no test code (.dockerignore): a command that needs it says so in one line, exit 2.
  image_check=0
  docker run --rm appview-firehose:compose-runtime scenario --list >"$log" 2>&1 || image_check=$?
  # The local base image has no shell or ls: node itself looks (exit 1 when a left-out folder is there).
  leftover=0
  docker run --rm --entrypoint node appview-firehose:compose-runtime -e "process.exit(['harness', 'loadtest', 'bench', 'testing'].some((d) => require('fs').existsSync('dist/' + d)) ? 1 : 0)" >>"$log" 2>&1 || leftover=$?
  if [ "$image_check" -ne 2 ] || ! grep -q 'needs the test tools' "$log" || [ "$leftover" -ne 0 ]; then
    cat "$log" >&2
    echo "compose: the runtime image holds test code (dist/harness, loadtest, bench or testing)" >&2
    status=1
  else
    echo "compose: image without test code (scenario: exit 2, 'needs the test tools')"
  fi
fi
if [ "$status" -eq 0 ]; then
  echo "compose: ok in ${seconds}s"
else
  [ "$status" -eq 124 ] && echo "compose: timed out after ${COMPOSE_TIMEOUT_SECONDS}s" >&2
  tail -n 80 "$log" >&2
  echo "compose: FAILED (exit $status) after ${seconds}s" >&2
fi
exit "$status"
