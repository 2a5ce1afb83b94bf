#!/usr/bin/env bash
# Make sure Debian packages the tests need are installed, each checked by a path it provides.
#
#   bash scripts/ensure-apt.sh PATH=PACKAGE [PATH=PACKAGE ...]     # idempotent
#   e.g. bash scripts/ensure-apt.sh /usr/bin/chromium=chromium \
#          /usr/lib/python3/dist-packages/kubernetes=python3-kubernetes
#
# A package is installed (as root, with apt-get) only when its PATH is missing; exits non-zero,
# saying what to do, when a package is missing and cannot be installed.
set -uo pipefail

say() { echo "[ensure-apt] $*"; }
err() { echo "[ensure-apt] ERROR: $*" >&2; }

if [[ $# -eq 0 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

missing=()
for spec in "$@"; do
  path="${spec%%=*}"
  pkg="${spec#*=}"
  if [[ -z "$path" || -z "$pkg" || "$path" == "$spec" ]]; then err "expected PATH=PACKAGE, got '$spec'"; exit 2; fi
  if [[ -e "$path" ]]; then say "$pkg: present ($path)"; else missing+=("$pkg"); fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
  err "missing: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
apt-get update -qq || { err "apt-get update failed"; exit 1; }
say "apt-get install -y ${missing[*]}"
apt-get install -y -qq "${missing[@]}" >/dev/null || { err "apt-get install ${missing[*]} failed"; exit 1; }
for spec in "$@"; do
  path="${spec%%=*}"
  [[ -e "$path" ]] || { err "${spec#*=} was installed but $path is still missing"; exit 1; }
done
say "installed: ${missing[*]}"
