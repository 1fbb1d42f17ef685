# Starts a throwaway PostgreSQL cluster for the tests and exports its URL in
# TURNBOX_TEST_POSTGRES_URL; stops and removes it when the calling script exits.
# Skipped when TURNBOX_TEST_POSTGRES_URL is already set (a server of your own).

# Debian keeps each PostgreSQL version's server programs in VERSION/bin below this folder.
PG_LIB_DIR="${TURNBOX_PG_LIB_DIR:-/usr/lib/postgresql}"

# A folder with the server's own programs: a psql client, or an initdb without the server
# beside it, cannot start a cluster.
find_pg_bin() {
  local dir
  for dir in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" \
             $(ls -d "$PG_LIB_DIR"/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && { echo "$dir"; return 0; }
  done
  return 1
}

# initdb refuses to run as root: as root the cluster belongs to the postgres system user,
# which Debian's postgresql package creates.
pg_ready() {
  find_pg_bin >/dev/null || return 1
  ! is_root || id -u postgres >/dev/null 2>&1
}

start_throwaway_postgres() {
  [ -n "${TURNBOX_TEST_POSTGRES_URL:-}" ] && return 0
  local bin dir port as=()
  pg_ready || apt_install postgresql || true
  pg_ready || die "The tests need a PostgreSQL server (initdb, pg_ctl and postgres; as root, the postgres user too): install PostgreSQL (Debian: apt-get install postgresql) or set TURNBOX_TEST_POSTGRES_URL."
  bin=$(find_pg_bin)
  dir=$(mktemp -d)
  # initdb refuses to run as root: the cluster belongs to the postgres system user then.
  if is_root; then chown postgres "$dir"; as=(runuser -u postgres --); fi
  # Known before anything starts, so the exit trap cleans up after a failed start too.
  PG_DIR="$dir"
  PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop)
  port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$dir/log" >&2; die "PostgreSQL did not start."; }
  export TURNBOX_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/turnbox"
}

stop_throwaway_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  [ -f "$PG_DIR/data/postmaster.pid" ] && { "${PG_STOP[@]}" >/dev/null 2>&1 || true; }
  rm -rf "$PG_DIR"
}
