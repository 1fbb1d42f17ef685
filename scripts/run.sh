#!/usr/bin/env bash
# Sets up and runs Turnbox on the embedded default (SQLite, in-memory channel layer,
# Drive on local disk). Safe to run again: it migrates, seeds the demo if missing, serves.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/docker.sh"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

ensure_venv requirements.lock
python manage.py migrate --noinput -v 0
python manage.py collectstatic --noinput -v 0
# Agents run code in containers of the sandbox image (built once, a no-op after).
ensure_docker
python manage.py build_sandbox_image >/dev/null
# The filtering proxy of sandboxes that may reach the network (image built once; the
# container keeps running after Ctrl+C: `python manage.py egress_proxy --stop` removes it).
python manage.py egress_proxy >/dev/null
say "Demo logins"
python manage.py seed_demo
say "Turnbox is running at http://$HOST:$PORT/  (Ctrl+C stops it)"
exec daphne -b "$HOST" -p "$PORT" --access-log - config.asgi:application
