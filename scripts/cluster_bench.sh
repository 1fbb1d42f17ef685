#!/usr/bin/env bash
# Runs `manage.py cluster_bench` against a throwaway PostgreSQL (scripts/postgres.sh) on
# this host's Docker engine; the bench runs its own Redis. Arguments go to the command
# (e.g. --json). Installs what it needs as root, like `make test`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres.sh"
source "$(dirname "$0")/docker.sh"

ensure_venv requirements.lock
command -v redis-server >/dev/null || apt_install redis-server \
  || die "cluster_bench needs redis-server (Debian: apt-get install redis-server)."
ensure_docker
python manage.py build_sandbox_image >/dev/null
trap stop_throwaway_postgres EXIT
start_throwaway_postgres
python manage.py cluster_bench --postgres "${TURNBOX_TEST_POSTGRES_URL%/*}/postgres" "$@"
