#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need: Debian's Chromium and
# ChromeDriver (playwright-core drives /usr/bin/chromium; no browser download)
# and this app's npm packages. Safe to run again: it skips what is present.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
fi
/usr/bin/chromium --version

npm ci --no-audit --no-fund
