#!/usr/bin/env bash
# Make sure a Docker engine answers and /bin/busybox exists (needed to build the test images).
#
#   bash scripts/ensure-docker.sh          # idempotent; exits 0 when Docker is usable
#
# As root on Debian it installs what is missing (docker.io, busybox-static, nftables) and starts dockerd
# in the background (log: /tmp/stratus-dockerd.log). As a normal user it only explains what to do.
set -uo pipefail

DOCKERD_LOG="${STRATUS_DOCKERD_LOG:-/tmp/stratus-dockerd.log}"
WAIT_SECONDS="${STRATUS_DOCKER_WAIT:-60}"

say() { echo "[ensure-docker] $*"; }
err() { echo "[ensure-docker] ERROR: $*" >&2; }

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

is_root() { [[ "$(id -u)" == "0" ]]; }

apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ $apt_updated == 0 ]]; then
    say "apt-get update"
    apt-get update -qq || { err "apt-get update failed"; return 1; }
    apt_updated=1
  fi
  say "apt-get install -y $*"
  apt-get install -y -qq "$@" || { err "apt-get install $* failed"; return 1; }
}

docker_answers() { docker info >/dev/null 2>&1; }

dockerd_running() {
  if command -v pgrep >/dev/null 2>&1; then
    pgrep -x dockerd >/dev/null 2>&1
  else
    [[ -f /var/run/docker.pid ]] && kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null
  fi
}

ensure_busybox() {
  if [[ -x /bin/busybox ]]; then
    return 0
  fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    apt_install busybox-static || return 1
    if [[ -x /bin/busybox ]]; then
      say "/bin/busybox installed"
      return 0
    fi
  fi
  err "/bin/busybox is missing (needed to build the test images)."
  err "Install it with: sudo apt-get install -y busybox-static"
  return 1
}

ensure_docker() {
  if command -v docker >/dev/null 2>&1 && docker_answers; then
    say "Docker is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    return 0
  fi

  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if ! is_root; then
      err "Docker is not installed and this script is not running as root."
      err "Install and start it with:"
      err "  sudo apt-get install -y docker.io && sudo systemctl start docker"
      err "  (without systemd: sudo nohup dockerd >/tmp/stratus-dockerd.log 2>&1 &)"
      return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
      err "Docker is not installed and apt-get is not available; install Docker by hand."
      return 1
    fi
    apt_install docker.io || return 1
  fi

  # Installed; maybe the package's post-install started it.
  if docker_answers; then
    say "Docker is running"
    return 0
  fi

  if ! is_root; then
    err "Docker is installed but the engine does not answer (docker info failed)."
    err "Start it with: sudo systemctl start docker"
    err "  (without systemd: sudo nohup dockerd >/tmp/stratus-dockerd.log 2>&1 &)"
    err "and make sure your user may use it (sudo usermod -aG docker \$USER, then log in again)."
    return 1
  fi

  if dockerd_running; then
    say "dockerd is already running but not answering yet; waiting"
  else
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    # Own session (setsid): a later Ctrl-C in this terminal must not stop the engine.
    if command -v setsid >/dev/null 2>&1; then
      setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    else
      nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    disown 2>/dev/null || true
  fi

  local i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if docker_answers; then
      say "Docker is running after ${i}s ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
      return 0
    fi
    sleep 1
  done
  err "dockerd did not answer within ${WAIT_SECONDS}s. Last lines of $DOCKERD_LOG:"
  tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
  return 1
}

# nft and iptables: the node-bridge pod network's per-node nftables table and DOCKER-USER accept
# (node-agent/network/node-bridge.ts). Only a warning when missing: docker-bridge needs neither.
ensure_nft() {
  if command -v nft >/dev/null 2>&1; then
    return 0
  fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    apt_install nftables && return 0
  fi
  say "WARNING: nft is missing; --pod-network node-bridge will not work (sudo apt-get install -y nftables)"
  return 0
}

ensure_docker || exit 1
ensure_busybox || exit 1
ensure_nft
exit 0
