# Starts a throwaway Redis for the tests (the channel layer and Celery broker of the Celery
# turn tests) and exports its URL in TURNBOX_TEST_REDIS_URL; stop_throwaway_redis stops it
# and removes its folder. Skipped when TURNBOX_TEST_REDIS_URL is already set (a server of
# your own). Sourced after lib.sh.

start_throwaway_redis() {
  [ -n "${TURNBOX_TEST_REDIS_URL:-}" ] && return 0
  local dir port _
  { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } \
    || apt_install redis-server \
    || die "The tests need Redis (redis-server, redis-cli): install it or set TURNBOX_TEST_REDIS_URL."
  dir=$(mktemp -d)
  # Known before anything starts, so the exit trap cleans up after a failed start too.
  REDIS_DIR="$dir"
  port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  REDIS_PORT="$port"
  # No persistence: nothing of the tests outlives them.
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/log" \
    || die "Redis did not start."
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] \
    || { cat "$dir/log" >&2; die "Redis did not answer on port $port."; }
  export TURNBOX_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
}

stop_throwaway_redis() {
  [ -n "${REDIS_DIR:-}" ] || return 0
  local pid _
  pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$REDIS_DIR"
  unset REDIS_DIR TURNBOX_TEST_REDIS_URL
}
