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

engine_has_runtime() {
  [[ "$(docker info --format '{{json .Runtimes}}' 2>/dev/null)" == *"\"$1\""* ]]
}

runsc_registered() {
  engine_has_runtime runsc && engine_has_runtime runsc-net
}

ensure_runsc_registered() {
  runsc_registered && return 0
  if ! local_engine || ! is_root; then
    if engine_has_runtime runsc; then
      say "Note: the Docker engine has no runsc-net runtime: gVisor sandboxes have no network."
    else
      say "Note: the Docker engine has no runsc runtime: gVisor sandboxes are unavailable."
    fi
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

# Adds gVisor to daemon.json twice, keeping every other key: "runsc" with --network=none for
# sandboxes without a network (gVisor refuses to start in the root network namespace unless
# told there is none), and "runsc-net" for sandboxes whose policy allows some, on the
# sandbox's own Docker network (which leads to the egress proxy only).
# Returns 1 when the file already had both, or when there is no runsc to register.
register_runsc() {
  command -v runsc >/dev/null || return 1
  python3 - "$DOCKER_CONFIG_FILE" "$(command -v runsc)" "$(runsc_network_arg)" <<'PY'
import json, os, sys

path, runsc, network = sys.argv[1:]
try:
    with open(path) as f:
        config = json.load(f)
except FileNotFoundError:
    config = {}
runtimes = config.setdefault("runtimes", {})
changed = False
for name, arg in (("runsc", "--network=none"), ("runsc-net", network)):
    entry = runtimes.setdefault(name, {"path": runsc})
    args = entry.setdefault("runtimeArgs", [])
    if not any(a.startswith("--network=") for a in args):
        args.append(arg)
        changed = True
if not changed:
    sys.exit(1)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
}

# gVisor's own network stack (--network=sandbox) where it starts. Debian 12's gVisor (release
# 2022-12-19) takes a network namespace that has net.core.rmem_default for the host's own
# and refuses to start its stack there, and kernels since 5.15 give every namespace one;
# there runsc-net uses the kernel's stack inside the sandbox's own namespace
# (--network=host), while every other system call still goes through gVisor.
# TURNBOX_RUNSC_NETWORK=sandbox|host decides instead.
runsc_network_arg() {
  if [ -n "${TURNBOX_RUNSC_NETWORK:-}" ]; then
    echo "--network=$TURNBOX_RUNSC_NETWORK"
  elif unshare --net test -e /proc/sys/net/core/rmem_default 2>/dev/null; then
    echo "--network=host"
  else
    echo "--network=sandbox"
  fi
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
