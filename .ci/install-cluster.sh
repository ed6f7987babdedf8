#!/usr/bin/env bash
# Installs what the cluster tests (tests/cluster) need from Debian's packages:
# HAProxy, the load balancer in front of the nodes. Safe to run again: it
# skips what is present.
set -euo pipefail

if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y haproxy \
    || { $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y haproxy; }
fi
# The package starts a system service on install; the tests run their own.
if command -v service >/dev/null; then service haproxy stop >/dev/null 2>&1 || true; fi
/usr/sbin/haproxy -v | head -1
