#!/usr/bin/env bash
# Start PostgreSQL and Redis on 127.0.0.1 if they are not answering; fail loudly if they won't.
set -u

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # name, check
  for _ in $(seq 1 30); do "$2" && return 0; sleep 1; done
  echo "services: $1 did not come up on 127.0.0.1" >&2
  return 1
}

if ! postgres_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start \
    || { echo "services: could not start PostgreSQL" >&2; exit 1; }
  wait_for PostgreSQL postgres_up || exit 1
fi
if ! redis_up; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    || { echo "services: could not start Redis" >&2; exit 1; }
  wait_for Redis redis_up || exit 1
fi
echo "services: PostgreSQL and Redis are up"
