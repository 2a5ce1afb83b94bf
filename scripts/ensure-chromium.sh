#!/usr/bin/env bash
# Make sure Debian's chromium exists for the dashboard's browser tests (playwright-core drives it).
#
#   bash scripts/ensure-chromium.sh        # idempotent; exits 0 when chromium is usable
#
# Installs the `chromium` package when missing (scripts/ensure-apt.sh). The path can be overridden
# with STRATUS_CHROMIUM (default /usr/bin/chromium).
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
exec bash "$(dirname "$0")/ensure-apt.sh" "${STRATUS_CHROMIUM:-/usr/bin/chromium}=chromium"
