# Shared by scripts/run.sh and scripts/test.sh: a virtualenv that matches the lock file.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${TURNBOX_VENV:-$ROOT/.venv}"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  is_root && command -v apt-get >/dev/null || return 1
  say "Installing $* with apt-get"
  if [ -z "${TURNBOX_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    TURNBOX_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  die "Turnbox needs Python 3.11 or newer (set PYTHON=/path/to/python3.11 to choose one)."
}

# ensure_venv LOCKFILE: creates the virtualenv once and re-installs only when the lock changed.
ensure_venv() {
  local lock="$1" python stamp want
  # A virtualenv whose interpreter was removed or upgraded away no longer runs: make it anew.
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "The virtualenv in $VENV does not run: creating it again"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python)
    say "Creating the virtualenv in $VENV"
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv || die "python -m venv failed: install your distribution's python3-venv package."
      "$python" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.installed-$(basename "$lock")"
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "Installing Python packages from $lock"
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check -r "$lock"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
