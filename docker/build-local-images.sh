#!/usr/bin/env bash
# Builds the base images the harness and docker-compose.test.yml use, offline: each is a
# FROM-scratch filesystem of this host's own binaries plus the shared libraries `ldd` lists,
# loaded with `docker import` (no registry, no Dockerfile builder). See docs/harness.md.
#   appview-firehose/redis:local  redis-server, redis-cli (Debian `redis-server` package)
#   appview-firehose/node:local   node, npm/npx, /bin/sh, env: the app Dockerfile's NODE_IMAGE
# Usage: docker/build-local-images.sh [redis|node]...   (default: both)
set -euo pipefail

REDIS_IMAGE=${HARNESS_REDIS_IMAGE:-appview-firehose/redis:local}
NODE_IMAGE=${NODE_IMAGE:-appview-firehose/node:local}

fail() { echo "build-local-images: $*" >&2; exit 1; }
command -v docker >/dev/null || fail "docker is not installed"
command -v ldd >/dev/null || fail "ldd is not installed (Debian package libc-bin)"

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies a host file to the same path under the image root, symlinks resolved.
add_file() { # $1 root, $2 host path
  mkdir -p "$1$(dirname "$2")"
  cp -L "$2" "$1$2"
}

# Every shared library a binary loads (ldd prints "name => /path (addr)" or "/path (addr)").
add_libraries() { # $1 root, $2 host path
  ldd "$2" | grep -o '/[^ ]*' | sort -u | while read -r lib; do add_file "$1" "$lib"; done
}

add_binary() { # $1 root, $2 command name
  local path
  path=$(command -v "$2") || fail "$2 not found on this host"
  add_file "$1" "$path"
  add_libraries "$1" "$path"
}

# Accounts, /tmp and the image itself. Uids match the official node and redis images.
finish_image() { # $1 root, $2 tag, then docker import --change arguments
  local root=$1 tag=$2 digest
  shift 2
  mkdir -p "$root/etc" "$root/tmp" "$root/data"
  chmod 1777 "$root/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'redis:x:999:999:redis:/data:/bin/false' \
    'node:x:1000:1000:node:/home/node:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'redis:x:999:' 'node:x:1000:' 'nogroup:x:65534:' >"$root/etc/group"
  mkdir -p "$root/home/node" "$root/root"
  chown 1000:1000 "$root/home/node"
  chown 999:999 "$root/data"
  # Reproducible tar, its digest a label: an unchanged host keeps the same image id, so the
  # Dockerfile layers built on it stay cached across runs.
  tar -C "$root" --sort=name --mtime=@0 --numeric-owner -cf "$work/rootfs.tar" .
  digest=$(sha256sum "$work/rootfs.tar" | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "appview-firehose.rootfs"}}' "$tag" 2>/dev/null)" = "$digest" ]; then
    echo "$tag is up to date (rootfs $digest)"
  else
    docker import --change "LABEL appview-firehose.rootfs=$digest" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$@" "$work/rootfs.tar" "$tag" >/dev/null
    echo "built $tag ($(du -sh "$root" | cut -f1), rootfs $digest)"
  fi
  rm -f "$work/rootfs.tar"
}

build_redis() {
  local root=$work/redis
  add_binary "$root" redis-server
  add_binary "$root" redis-cli
  finish_image "$root" "$REDIS_IMAGE" --change 'WORKDIR /data' --change 'USER redis' \
    --change 'EXPOSE 6379' --change 'CMD ["redis-server", "--protected-mode", "no"]'
  docker run --rm "$REDIS_IMAGE" redis-server --version
}

build_node() {
  local root=$work/node npm_dir
  add_binary "$root" node
  add_binary "$root" env
  add_binary "$root" sh
  # Native addons the app's dependencies load (vitest's rolldown binding needs librt, node does not).
  find "$repo/node_modules" -name '*.node' -type f 2>/dev/null | while read -r addon; do add_libraries "$root" "$addon"; done
  # npm is a directory of JavaScript (…/npm/bin/npm-cli.js): copied whole, bin links made here.
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  mkdir -p "$root$(dirname "$npm_dir")" "$root/usr/local/bin"
  cp -a "$npm_dir" "$root$npm_dir"
  ln -sf "$npm_dir/bin/npm-cli.js" "$root/usr/local/bin/npm"
  ln -sf "$npm_dir/bin/npx-cli.js" "$root/usr/local/bin/npx"
  # node and env may live elsewhere on the host (/usr/local/bin); npm's shebang wants /usr/bin/env.
  [ -e "$root/usr/bin/env" ] || { mkdir -p "$root/usr/bin"; ln -s "$(command -v env)" "$root/usr/bin/env"; }
  [ -e "$root/bin/sh" ] || { mkdir -p "$root/bin"; ln -s "$(command -v sh)" "$root/bin/sh"; }
  finish_image "$root" "$NODE_IMAGE" --change 'CMD ["node"]'
  docker run --rm "$NODE_IMAGE" sh -c 'echo "node $(node --version), npm $(npm --version)"'
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(redis node)
for target in "${targets[@]}"; do
  case $target in
    redis) build_redis ;;
    node) build_node ;;
    *) fail "unknown image \"$target\" (redis or node)" ;;
  esac
done
