#!/usr/bin/env bash
# Start the local PostgreSQL / Redis if they are installed but down. Never fails: the tests
# that need a missing service skip with the reason.
set -u
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    ver=$(ls /etc/postgresql | head -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null \
      && echo "started PostgreSQL $ver" || echo "note: could not start PostgreSQL; its tests will skip"
  fi
fi
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      >/dev/null 2>&1 && echo "started Redis" || echo "note: could not start Redis; its tests will skip"
  fi
fi
exit 0
