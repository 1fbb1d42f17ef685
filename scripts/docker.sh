# Docker for the sandboxes, sourced after lib.sh. ensure_docker makes sure an engine answers
# with gVisor's runsc registered. Every step checks the thing it is about to use: a `docker`
# client on PATH says nothing about an engine (many machines ship the client alone), so a
# local engine that does not answer and has no `dockerd` to start means installing Debian's
# docker.io (dockerd, containerd, runc), as root; otherwise the message says what to do.
# An engine elsewhere (DOCKER_HOST) is used as it is: nothing is installed or started for it.

DOCKER_CONFIG_FILE="${TURNBOX_DOCKERD_CONFIG:-/etc/docker/daemon.json}"
DOCKERD_LOG="${TURNBOX_DOCKERD_LOG:-/var/log/turnbox-dockerd.log}"
DOCKERD_START_SECONDS="${TURNBOX_DOCKERD_START_SECONDS:-60}"
DOCKERD_PIDFILE="${TURNBOX_DOCKERD_PIDFILE:-/var/run/docker.pid}"

ensure_docker() {
  if ! local_engine; then
    engine_answers || die "Docker at $DOCKER_HOST does not answer: start it, or unset DOCKER_HOST to use this machine's engine."
    ensure_runsc_registered
    ensure_image_tools
    return 0
  fi
  if ! engine_answers; then
    ensure_engine_installed
    is_root || die "$(engine_stopped_advice)"
    install_runsc
    register_runsc || true
    start_dockerd
  fi
  ensure_runsc_registered
  ensure_image_tools
}

# The sandbox image is built on this machine when no registry is reachable: the offline
# recipe bootstraps Debian with debootstrap, whichever engine then runs the image.
ensure_image_tools() {
  install_if_missing debootstrap debootstrap
}

# Only an engine on this machine's default socket is ours to install, configure and start.
local_engine() {
  case "${DOCKER_HOST:-}" in ""|unix:///var/run/docker.sock|unix:///run/docker.sock) return 0 ;; esac
  return 1
}

# The server part of `docker version` answers only when an engine does.
engine_answers() {
  command -v docker >/dev/null && docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# The client talks to the engine, dockerd is the engine: both must be here to start one.
ensure_engine_installed() {
  command -v docker >/dev/null && command -v dockerd >/dev/null && return 0
  apt_install docker.io && command -v docker >/dev/null && command -v dockerd >/dev/null && return 0
  if is_root && ! command -v apt-get >/dev/null; then
    die "No Docker engine here (no dockerd): install Docker Engine (https://docs.docker.com/engine/install/) and start it, or point DOCKER_HOST at one."
  fi
  is_root && die "Installing docker.io did not bring dockerd and the docker client: install Docker Engine by hand, or point DOCKER_HOST at one."
  die "No Docker engine here (no dockerd): as root run 'apt-get install docker.io' (Debian, Ubuntu) and start it (systemctl start docker, or dockerd &), run this command as root (it installs and starts it), or point DOCKER_HOST at an engine."
}

engine_stopped_advice() {
  if [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ]; then
    echo "The Docker engine's socket is not yours to use: add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again), or run as root."
  else
    echo "The Docker engine is installed but not running: start it (sudo systemctl start docker, or sudo dockerd &), or run this command as root (it starts it)."
  fi
}

# install_if_missing COMMAND PACKAGE: apt-installs PACKAGE as root when COMMAND is not on PATH.
install_if_missing() {
  command -v "$1" >/dev/null && return 0
  apt_install "$2" || true
}

# Once per run: a package archive without runsc is not asked twice.
install_runsc() {
  [ -n "${RUNSC_ASKED:-}" ] && return 0
  RUNSC_ASKED=1
  install_if_missing runsc runsc
}

runsc_registered() {
  [[ "$(docker info --format '{{json .Runtimes}}' 2>/dev/null)" == *'"runsc"'* ]]
}

ensure_runsc_registered() {
  runsc_registered && return 0
  if ! local_engine || ! is_root; then
    say "Note: the Docker engine has no runsc runtime: gVisor sandboxes are unavailable."
    return 0
  fi
  install_runsc
  if ! command -v runsc >/dev/null; then
    say "Note: runsc (gVisor) could not be installed: gVisor sandboxes are unavailable."
    return 0
  fi
  register_runsc || true
  say "Registering runsc with the running Docker engine"
  reload_dockerd || die "Could not signal dockerd to reload $DOCKER_CONFIG_FILE."
  local _
  # A loaded machine can take seconds to reload dockerd; a wrong config never loads.
  for _ in $(seq 300); do runsc_registered && return 0; sleep 0.1; done
  die "dockerd did not pick up runsc from $DOCKER_CONFIG_FILE (see its log)."
}

reload_dockerd() {
  local pid
  pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null || pidof dockerd 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -HUP $pid
}

# Adds runsc to daemon.json, keeping every other key. gVisor refuses to start in the root
# network namespace unless it is told there is no network, hence --network=none.
# Returns 1 when the file already had it, or when there is no runsc to register.
register_runsc() {
  command -v runsc >/dev/null || return 1
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
  # dockerd starts its own containerd when none runs. It refuses a --config-file that
  # does not exist, and there is none until something is registered.
  local args=(--pidfile "$DOCKERD_PIDFILE")
  [ -f "$DOCKER_CONFIG_FILE" ] && args+=(--config-file "$DOCKER_CONFIG_FILE")
  setsid dockerd "${args[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + DOCKERD_START_SECONDS))
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$DOCKERD_LOG" >&2
      die "dockerd did not answer within ${DOCKERD_START_SECONDS} s (log: $DOCKERD_LOG)."
    fi
    sleep 0.5
  done
}
