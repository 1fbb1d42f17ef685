#!/usr/bin/env bash
# `make stack-check`: the production stack of platform/compose.yaml, built and run for real
# on this machine, driven through nginx, then torn down (scripts/stack_check.py says what
# it checks). Installs what it needs as root: a Docker engine (scripts/docker.sh),
# Debian's docker-compose when neither it nor the compose plugin is there, and the test
# model server (scripts/llama.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/docker.sh"
source "$(dirname "$0")/compose.sh"
source "$(dirname "$0")/llama.sh"

ensure_venv requirements.lock
ensure_docker
ensure_compose
# The model server of the OpenAI path (built once, 20 to 30 minutes; dies saying so).
ensure_llama_server
# The workers' sandboxes and the egress proxy run on this engine: their images must be
# there (built here, where the offline recipe can run; the containers only find them).
say "Sandbox and egress proxy images"
python manage.py build_sandbox_image >/dev/null
python manage.py egress_proxy --build-only >/dev/null
exec python scripts/stack_check.py "$@"
