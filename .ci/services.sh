#!/usr/bin/env bash
# Starts the local services the tests need when they are not running (commands from the
# machine's own notes), and installs Debian's Chromium for the browser tests if it is missing.
set -uo pipefail

wait_for() { # name command...
  local name=$1; shift
  for _ in $(seq 1 30); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "services: $name did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for postgresql pg_isready -h 127.0.0.1 -p 5432 || exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "services: installing Debian's chromium for browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || {
    echo "services: could not install chromium" >&2
    exit 1
  }
fi
exit 0
