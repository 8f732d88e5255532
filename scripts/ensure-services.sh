#!/usr/bin/env bash
# Start the local PostgreSQL / Redis if they are installed but down.
# Locally this never fails: the tests that need a missing service skip with the reason.
# Under CI (CI=true, which .ci/run exports) a service still missing fails here, with the
# reason, so that a green run cannot hide every PostgreSQL, RLS and Redis test skipped.
set -u
# the ports are overridable like the test fixtures' (tests/test_guardrails.py points them at
# dead ports); only the standard ones are started here
PG_HOST=127.0.0.1 PG_PORT=${MODELREG_TEST_PG_PORT:-5432}
REDIS_HOST=127.0.0.1 REDIS_PORT=${MODELREG_TEST_REDIS_PORT:-6379}

port_open() {  # host port: something accepts TCP connections there (bash's /dev/tcp)
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    port_open "$PG_HOST" "$PG_PORT"
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    port_open "$REDIS_HOST" "$REDIS_PORT"
  fi
}

if [ "$PG_PORT" = 5432 ] && ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  ver=$(ls /etc/postgresql | head -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null \
    && echo "started PostgreSQL $ver"
fi
if [ "$REDIS_PORT" = 6379 ] && ! redis_up && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" \
    --appendonly no >/dev/null 2>&1 && echo "started Redis"
  for _ in 1 2 3 4 5 6 7 8 9 10; do redis_up && break; sleep 0.2; done
fi

missing=()
pg_up || missing+=("PostgreSQL is not reachable at $PG_HOST:$PG_PORT")
redis_up || missing+=("Redis is not reachable at $REDIS_HOST:$REDIS_PORT")
[ ${#missing[@]} -eq 0 ] && exit 0
case "${CI:-}" in
  1|true|TRUE|True|yes)
    for reason in "${missing[@]}"; do echo "error: $reason (required under CI=true)" >&2; done
    exit 1 ;;
esac
for reason in "${missing[@]}"; do echo "note: $reason; the tests that need it will skip"; done
exit 0
