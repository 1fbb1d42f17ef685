#!/usr/bin/env bash
# Runs the whole test suite: lint, then pytest on SQLite (the embedded default, with the
# browser tests in Debian's Chromium), then again on PostgreSQL (the production database).
# Both runs get a throwaway Redis for the Celery turn tests (scripts/redis.sh).
# Installs what the tests need on a fresh machine. Extra arguments go to both pytest runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres.sh"
source "$(dirname "$0")/redis.sh"
source "$(dirname "$0")/docker.sh"
source "$(dirname "$0")/chromium.sh"
source "$(dirname "$0")/llama.sh"

ensure_venv requirements-dev.lock

case "$*" in
  *"not browser"*) ;;  # No browser test selected: no browser needed.
  *) ensure_chromium ;;
esac

# Tests get their own data folder: generated keys and files never mix with a running demo.
TURNBOX_DATA_DIR=$(mktemp -d)
export TURNBOX_DATA_DIR
trap 'stop_throwaway_redis; stop_throwaway_postgres; rm -rf "$TURNBOX_DATA_DIR"' EXIT

say "ruff"
ruff check .
ruff format --check .
lint-imports

# The sandbox tests run real containers: an engine, and the image (built once, a no-op after).
ensure_docker
python manage.py build_sandbox_image >/dev/null
# And the egress proxy's image: the network tests start proxies of their own from it.
python manage.py egress_proxy --build-only >/dev/null

# The real model server of the tests marked real_model (built once, then cached).
ensure_llama_server

# Turns in Celery workers publish through Redis: both pytest runs use this one.
start_throwaway_redis

say "pytest on SQLite"
pytest "$@"

say "pytest on PostgreSQL"
start_throwaway_postgres
status=0
DATABASE_URL="$TURNBOX_TEST_POSTGRES_URL" pytest -m "not browser and not real_model" "$@" || status=$?
# 5 is "no test selected": arguments that pick only browser tests select none here.
[ "$status" = 5 ] && status=0
exit "$status"
