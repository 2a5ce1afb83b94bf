#!/usr/bin/env bash
# Build the container images Stratus' tests and demo use, without pulling from any registry:
# a root file system made of the host's static busybox (Debian's busybox-static) is tarred and
# `docker import`ed.
#
#   stratus-test/busybox:1.36   CMD ["/bin/sh"]
#   stratus/pause:1             sleeps until SIGTERM/SIGINT, then exits 0 at once
#   stratus-test/node:20        the busybox root plus the host's `node` and the shared libraries
#                               `ldd` lists, and /opt/stratus/in-cluster-client.cjs (test/fixtures/
#                               in-cluster-client.ts bundled with @kubernetes/client-node by esbuild)
#
# Usage: bash scripts/build-test-images.sh [--force] [--help]
#   --force   rebuild even if the tag already exists
# Idempotent: a tag that exists (with the current image-format label) is skipped.
set -euo pipefail

# Bump when the root file system layout below changes, so existing tags get rebuilt.
IMAGE_FORMAT=1
BUSYBOX_SRC="${STRATUS_BUSYBOX:-/bin/busybox}"
FORCE=0

say() { echo "[build-test-images] $*"; }
die() { echo "[build-test-images] ERROR: $*" >&2; exit 1; }

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

for arg in "$@"; do
  case "$arg" in
    -f | --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run: bash scripts/ensure-docker.sh)"
docker info >/dev/null 2>&1 || die "Docker does not answer (run: bash scripts/ensure-docker.sh)"
[[ -x "$BUSYBOX_SRC" ]] || die "$BUSYBOX_SRC not found; install it with: sudo apt-get install -y busybox-static"

# The image has no libc, so busybox must be statically linked.
if command -v ldd >/dev/null 2>&1 && ldd "$BUSYBOX_SRC" 2>&1 | grep -q '=>'; then
  die "$BUSYBOX_SRC is dynamically linked; install the static one: sudo apt-get install -y busybox-static"
fi

# tag|CMD
IMAGES=(
  'stratus-test/busybox:1.36|CMD ["/bin/sh"]'
  'stratus/pause:1|CMD ["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]'
)

needs_build() {
  local tag="$1" want="${2:-$IMAGE_FORMAT}"
  [[ $FORCE == 1 ]] && return 0
  local have
  have="$(docker image inspect --format '{{ index .Config.Labels "io.stratus.image-format" }}' "$tag" 2>/dev/null)" || return 0
  [[ "$have" == "$want" ]] && return 1
  say "$tag exists with image format '${have:-none}', want $want: rebuilding"
  return 0
}

# The node image: its format names the node version and the fixture it carries, so a change of
# either rebuilds it.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_TAG='stratus-test/node:20'
NODE_SRC="${STRATUS_NODE:-$(command -v node || true)}"
NODE_FIXTURE="$REPO/test/fixtures/in-cluster-client.ts"
[[ -x "$NODE_SRC" ]] || die "node not found (set STRATUS_NODE to a node binary)"
NODE_FORMAT="$IMAGE_FORMAT-$("$NODE_SRC" --version)-$(sha256sum "$NODE_FIXTURE" | cut -c1-12)"
NODE_TODO=0
if needs_build "$NODE_TAG" "$NODE_FORMAT"; then NODE_TODO=1; else say "$NODE_TAG already present, skipping (use --force to rebuild)"; fi

todo=()
for entry in "${IMAGES[@]}"; do
  tag="${entry%%|*}"
  if needs_build "$tag"; then
    todo+=("$entry")
  else
    say "$tag already present, skipping (use --force to rebuild)"
  fi
done
[[ ${#todo[@]} -eq 0 && $NODE_TODO == 0 ]] && { say "all images present"; exit 0; }

WORK="$(mktemp -d /tmp/stratus-rootfs.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

say "assembling root file system in $ROOTFS from $BUSYBOX_SRC ($("$BUSYBOX_SRC" 2>&1 | head -n 1 | cut -c1-60))"
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,root,var/run,run,home}
cp -L "$BUSYBOX_SRC" "$ROOTFS/bin/busybox"
chmod 0755 "$ROOTFS/bin/busybox"
n=0
while read -r applet; do
  [[ -z "$applet" || "$applet" == "busybox" ]] && continue
  ln -sf busybox "$ROOTFS/bin/$applet"
  n=$((n + 1))
done < <("$ROOTFS/bin/busybox" --list)
# Common absolute paths used by shebangs and scripts.
ln -sf ../../bin/env "$ROOTFS/usr/bin/env"
say "linked $n applets under /bin"

mkdir -p -m 1777 "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
chmod 0700 "$ROOTFS/root"
cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$ROOTFS/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
: >"$ROOTFS/etc/resolv.conf"
echo stratus >"$ROOTFS/etc/hostname"

TARBALL="$WORK/rootfs.tar"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -cf "$TARBALL" .
say "root file system: $(du -h "$TARBALL" | cut -f1)"

for entry in "${todo[@]}"; do
  tag="${entry%%|*}"
  cmd="${entry#*|}"
  say "importing $tag"
  old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  id="$(docker import \
    --change 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' \
    --change "LABEL io.stratus.image-format=$IMAGE_FORMAT" \
    --change "$cmd" \
    --message "stratus test image (busybox rootfs)" \
    "$TARBALL" "$tag")"
  say "built $tag (${id:0:19})"
  # Drop the image this tag pointed to before, unless something still uses it.
  if [[ -n "$old_id" && "$old_id" != "$id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
done
if [[ $NODE_TODO == 1 ]]; then
  NODE_ROOTFS="$WORK/node-rootfs"
  cp -a "$ROOTFS" "$NODE_ROOTFS"
  mkdir -p "$NODE_ROOTFS/usr/local/bin" "$NODE_ROOTFS/opt/stratus"
  cp -L "$NODE_SRC" "$NODE_ROOTFS/usr/local/bin/node"
  ln -sf ../usr/local/bin/node "$NODE_ROOTFS/bin/node"
  # Every shared library node loads, at the path the dynamic loader looks for it.
  while read -r lib; do
    [[ -z "$lib" ]] && continue
    mkdir -p "$NODE_ROOTFS$(dirname "$lib")"
    cp -L "$lib" "$NODE_ROOTFS$lib"
  done < <(ldd "$NODE_SRC" | grep -o '/[^ ]*' | sort -u)
  say "bundling $NODE_FIXTURE with esbuild"
  "$REPO/node_modules/.bin/esbuild" "$NODE_FIXTURE" --bundle --platform=node --target=node20 --format=cjs --minify \
    --log-level=warning --outfile="$NODE_ROOTFS/opt/stratus/in-cluster-client.cjs"
  NODE_TARBALL="$WORK/node-rootfs.tar"
  tar --numeric-owner --owner=0 --group=0 -C "$NODE_ROOTFS" -cf "$NODE_TARBALL" .
  say "importing $NODE_TAG ($(du -h "$NODE_TARBALL" | cut -f1))"
  old_id="$(docker image inspect --format '{{.Id}}' "$NODE_TAG" 2>/dev/null || true)"
  id="$(docker import \
    --change 'ENV PATH=/usr/local/bin:/bin:/usr/bin:/sbin:/usr/sbin' \
    --change "LABEL io.stratus.image-format=$NODE_FORMAT" \
    --change 'CMD ["node"]' \
    --message "stratus test image (node on a busybox rootfs)" \
    "$NODE_TARBALL" "$NODE_TAG")"
  say "built $NODE_TAG (${id:0:19})"
  if [[ -n "$old_id" && "$old_id" != "$id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
fi
say "done"
