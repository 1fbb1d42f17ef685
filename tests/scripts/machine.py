"""A stand-in machine for the set-up scripts' decisions.

The scripts in scripts/ decide what to install, start or say by looking at the machine:
which commands are on PATH, whether an engine answers, who runs them. A `Machine` gives
them a PATH of its own, made of a few real tools (bash, python3, coreutils) and stand-ins
for everything they would install or start. The stand-ins record each call in a log;
`apt-get install PKG` "installs" a package by copying its stand-in commands onto PATH;
`dockerd` marks the engine up and reloads its runtimes on SIGHUP. Nothing real is installed
or started, so the decisions can be tested on any machine, whatever it has.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The real tools the scripts and the stand-ins use; everything else is absent unless given.
REAL_TOOLS = (
    "bash", "sh", "cat", "mkdir", "seq", "sleep", "tail", "setsid", "dirname",
    "cut", "sha256sum", "rm", "mktemp", "chmod", "cp", "ls", "sort", "env", "tr", "grep",
    "basename", "head", "touch", "date", "printf",
)  # fmt: skip

LOG = 'printf "%s\\n" "$(basename "$0") $*" >> "$STANDIN/log"'

STANDINS = {
    # Answers as an engine would: the server part only while one is up.
    "docker": f"""
        {LOG}
        case "$1" in
          version) up=$STANDIN/engine_up
                   [ -e "$up" ] || {{ echo "Cannot connect to the Docker daemon" >&2; exit 1; }}
                   echo 20.10.24 ;;
          info) [ -e "$STANDIN/engine_up" ] || exit 1
                echo "{{\\"runc\\":{{}}$(cat "$STANDIN/runtimes" 2>/dev/null)}}" ;;
        esac
    """,
    # Up once started; takes runsc and runsc-net from its configuration at start and on
    # SIGHUP.
    "dockerd": f"""
        {LOG}
        config=/nonexistent; pidfile=$STANDIN/docker.pid
        while [ $# -gt 0 ]; do
          case "$1" in --config-file) config=$2; shift ;; --pidfile) pidfile=$2; shift ;; esac
          shift
        done
        load() {{
          : > "$STANDIN/runtimes"
          for name in runsc runsc-net; do
            grep -q "\\"$name\\"" "$config" 2>/dev/null &&
              printf ',"%s":{{}}' "$name" >> "$STANDIN/runtimes"
          done
        }}
        load
        trap 'echo "dockerd reloaded" >> "$STANDIN/log"; config=$TURNBOX_DOCKERD_CONFIG; load' HUP
        echo $$ > "$pidfile"
        touch "$STANDIN/engine_up"
        while :; do sleep 0.05; done
    """,
    "id": f"""
        {LOG}
        if [ "$1" = -u ] && [ -n "${{2:-}}" ]; then
          [ -e "$STANDIN/root/users/$2" ] && echo 101; exit $?
        fi
        echo "$STANDIN_UID"
    """,
    "apt-get": f"""
        {LOG}
        [ "$1" = install ] || exit 0
        for pkg in "$@"; do
          [ -d "$STANDIN/packages/$pkg" ] && cp -r "$STANDIN/packages/$pkg/." "$STANDIN/root/"
        done
        exit 0
    """,
    "pidof": "exit 1",
    "runuser": f'{LOG}\nshift 3\nexec "$@"',
    "chown": LOG,
}

# Each package: path (below the machine's root) -> stand-in program.
PACKAGES = {
    "docker.io": {"bin/docker": STANDINS["docker"], "bin/dockerd": STANDINS["dockerd"]},
    "runsc": {"bin/runsc": LOG},
    "debootstrap": {"bin/debootstrap": LOG},
    "postgresql": {
        "lib/postgresql/15/bin/initdb": LOG,
        "lib/postgresql/15/bin/pg_ctl": LOG,
        "lib/postgresql/15/bin/postgres": LOG,
        "users/postgres": "",
    },
    "redis-server": {
        "bin/redis-server": LOG,
        "bin/redis-cli": f'{LOG}\n[ "${{3:-}}" = ping ] && echo PONG; exit 0',
    },
    "chromium": {"bin/chromium": f"{LOG}\necho Chromium 120"},
}


@dataclass
class Result:
    code: int
    out: str
    calls: list[str]

    def ran(self, prefix: str) -> bool:
        return any(call.startswith(prefix) for call in self.calls)

    @property
    def installed(self) -> list[str]:
        """The packages apt-get was asked to install, in order."""
        names = []
        for call in self.calls:
            if call.startswith("apt-get install"):
                names += [word for word in call.split()[2:] if not word.startswith("-")]
        return names


def hangup_as_default() -> None:
    """SIGHUP as a fresh process gets it. Children inherit an ignored or blocked SIGHUP
    (nohup; a thread of the test process that blocks signals), and a shell cannot trap a
    signal ignored on entry: the stand-in dockerd would never reload. The real dockerd
    (Go) takes SIGHUP back whatever it inherits."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


class Machine:
    """A PATH of stand-ins in a folder; `run` sources scripts and calls a function."""

    def __init__(self, folder: Path, *, root: bool = True) -> None:
        self.dir = folder
        self.root = folder / "root"
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True)
        self.root_user = root
        for tool in REAL_TOOLS:
            (self.bin / tool).symlink_to(os.path.realpath(shutil.which(tool)))
        # The interpreter itself: a python3 on PATH can be a version manager's shim.
        python = os.path.realpath(sys.executable)
        (self.bin / "python3").symlink_to(python)
        (self.bin / "python").symlink_to(python)
        for name in ("id", "apt-get", "pidof", "runuser", "chown"):
            self.add(f"bin/{name}", STANDINS[name])
        for package, files in PACKAGES.items():
            for path, body in files.items():
                self._write(folder / "packages" / package / path, body)

    def add(self, path: str, body: str = LOG) -> None:
        """Puts a stand-in at PATH below the machine's root ("bin/docker")."""
        self._write(self.root / path, body)

    def install(self, package: str) -> None:
        """As if the package had been installed before the script ran."""
        shutil.copytree(self.dir / "packages" / package, self.root, dirs_exist_ok=True)

    def add_user(self, name: str) -> None:
        self._write(self.root / "users" / name, "")

    def engine_up(self, *, runtimes: tuple[str, ...] = ()) -> None:
        (self.dir / "engine_up").touch()
        (self.dir / "runtimes").write_text("".join(f',"{name}":{{}}' for name in runtimes))

    def start_dockerd(self) -> None:
        """A running local engine, which reloads its configuration on SIGHUP."""
        subprocess.Popen(
            [str(self.bin / "dockerd"), "--pidfile", str(self.pidfile)],
            env=self.env(),
            start_new_session=True,
            preexec_fn=hangup_as_default,
        )
        for _ in range(100):
            if self.pidfile.exists() and (self.dir / "engine_up").exists():
                return
            subprocess.run(["sleep", "0.05"], check=True)
        raise RuntimeError("the stand-in dockerd did not start")

    @property
    def pidfile(self) -> Path:
        return self.dir / "docker.pid"

    @property
    def config_file(self) -> Path:
        return self.dir / "daemon.json"

    def config(self) -> dict:
        return json.loads(self.config_file.read_text())

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            "HOME": str(self.dir),
            "STANDIN": str(self.dir),
            "STANDIN_UID": "0" if self.root_user else "1000",
            "TURNBOX_DOCKERD_CONFIG": str(self.config_file),
            "TURNBOX_DOCKERD_PIDFILE": str(self.pidfile),
            "TURNBOX_DOCKERD_LOG": str(self.dir / "dockerd.log"),
            "TURNBOX_DOCKERD_START_SECONDS": "10",
            "TURNBOX_PG_LIB_DIR": str(self.root / "lib" / "postgresql"),
            **extra,
        }

    def run(self, scripts: list[str], call: str, **extra: str) -> Result:
        """Sources scripts/lib.sh and the given scripts, then runs `call` in bash."""
        sources = " ".join(f'source "{ROOT}/scripts/{name}";' for name in ["lib.sh", *scripts])
        done = subprocess.run(
            [str(self.bin / "bash"), "-c", f"{sources} {call}"],
            env=self.env(**extra),
            preexec_fn=hangup_as_default,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        log = self.dir / "log"
        calls = log.read_text().splitlines() if log.exists() else []
        return Result(code=done.returncode, out=done.stdout + done.stderr, calls=calls)

    def stop(self) -> None:
        """Ends a stand-in dockerd that a test started or a script started."""
        try:
            pid = int(self.pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def _write(self, path: Path, body: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if body or path.parent.name == "bin":
            path.write_text("#!/bin/bash\n" + textwrap.dedent(body).strip() + "\n")
            path.chmod(0o755)
        else:
            path.touch()
