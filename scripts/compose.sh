# Docker Compose for `make stack-check`, sourced after lib.sh: the compose plugin or
# Debian's docker-compose (1.29), whichever answers; as root, Debian's package when
# neither does (a `docker` client without the plugin is common).

compose_available() {
  command -v docker-compose >/dev/null && return 0
  command -v docker >/dev/null && docker compose version >/dev/null 2>&1
}

ensure_compose() {
  compose_available && return 0
  apt_install docker-compose || true
  compose_available \
    || die "stack-check needs Docker Compose: install the compose plugin, or Debian's docker-compose (apt-get install docker-compose)."
}
