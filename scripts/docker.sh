# Docker for the sandboxes, sourced after lib.sh. ensure_docker makes sure an engine answers
# with gVisor's runsc registered; on a machine without one it installs Debian's packages and
# starts dockerd in the background (these machines have no systemd). An engine elsewhere
# (DOCKER_HOST) is used as it is.

DOCKER_CONFIG_FILE=/etc/docker/daemon.json
DOCKERD_LOG="${TURNBOX_DOCKERD_LOG:-/var/log/turnbox-dockerd.log}"
DOCKERD_START_SECONDS="${TURNBOX_DOCKERD_START_SECONDS:-60}"

ensure_docker() {
  local missing=()
  command -v docker >/dev/null || missing+=(docker.io)
  command -v runsc >/dev/null || missing+=(runsc)
  # Offline image builds (no registry reachable) bootstrap Debian with it.
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}" || true; fi

  if docker version >/dev/null 2>&1; then
    ensure_runsc_registered
    return 0
  fi
  local_engine || die "Docker at $DOCKER_HOST does not answer: start it, or unset DOCKER_HOST."
  is_root && command -v dockerd >/dev/null \
    || die "Docker does not answer: install and start the Docker engine, or point DOCKER_HOST at one (as root, this script installs and starts Debian's docker.io)."
  register_runsc || true
  start_dockerd
}

# Only an engine on this machine's default socket is ours to configure and start.
local_engine() {
  case "${DOCKER_HOST:-}" in ""|unix:///var/run/docker.sock|unix:///run/docker.sock) return 0 ;; esac
  return 1
}

runsc_registered() {
  [[ "$(docker info --format '{{json .Runtimes}}' 2>/dev/null)" == *'"runsc"'* ]]
}

ensure_runsc_registered() {
  runsc_registered && return 0
  if ! local_engine || ! is_root || ! command -v runsc >/dev/null; then
    say "Note: the Docker engine has no runsc runtime: gVisor sandboxes are unavailable."
    return 0
  fi
  register_runsc || true
  say "Registering runsc with the running Docker engine"
  reload_dockerd || die "Could not signal dockerd to reload $DOCKER_CONFIG_FILE."
  local i
  for i in $(seq 50); do runsc_registered && return 0; sleep 0.1; done
  die "dockerd did not pick up runsc from $DOCKER_CONFIG_FILE (see its log)."
}

reload_dockerd() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -HUP $pid
}

# Adds runsc to daemon.json, keeping every other key. gVisor refuses to start in the root
# network namespace unless it is told there is no network, hence --network=none.
# Returns 1 when the file already had it.
register_runsc() {
  python3 - "$DOCKER_CONFIG_FILE" "$(command -v runsc)" <<'PY'
import json, os, sys

path, runsc = sys.argv[1:]
try:
    with open(path) as f:
        config = json.load(f)
except FileNotFoundError:
    config = {}
entry = config.setdefault("runtimes", {}).setdefault("runsc", {"path": runsc})
args = entry.setdefault("runtimeArgs", [])
if "--network=none" in args:
    sys.exit(1)
args.append("--network=none")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
}

start_dockerd() {
  say "Starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # Its own session: Ctrl+C on `make run` must not stop the engine the sandboxes live in.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + DOCKERD_START_SECONDS))
  until docker version >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$DOCKERD_LOG" >&2
      die "dockerd did not answer within ${DOCKERD_START_SECONDS} s (log: $DOCKERD_LOG)."
    fi
    sleep 0.5
  done
}
