#!/usr/bin/env bash
# Make sure Debian's chromium exists for the dashboard's browser tests (playwright-core drives it).
#
#   bash scripts/ensure-chromium.sh        # idempotent; exits 0 when chromium is usable
#
# As root with apt-get it installs the `chromium` package when missing; otherwise it explains what
# to do. The path can be overridden with STRATUS_CHROMIUM (default /usr/bin/chromium).
set -uo pipefail

CHROMIUM="${STRATUS_CHROMIUM:-/usr/bin/chromium}"

say() { echo "[ensure-chromium] $*"; }
err() { echo "[ensure-chromium] ERROR: $*" >&2; }

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

if [[ -x "$CHROMIUM" ]]; then
  say "chromium found: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
  err "$CHROMIUM is missing. Install it with: sudo apt-get install -y chromium"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
apt-get update -qq || { err "apt-get update failed"; exit 1; }
say "apt-get install -y chromium"
apt-get install -y -qq chromium || { err "apt-get install chromium failed"; exit 1; }
if [[ -x "$CHROMIUM" ]]; then
  say "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
err "chromium was installed but $CHROMIUM is still missing"
exit 1
