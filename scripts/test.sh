#!/usr/bin/env bash
# Runs the whole test suite: lint, then pytest (browser tests in Debian's Chromium).
# Installs what the tests need on a fresh machine. Extra arguments go to pytest.
source "$(dirname "$0")/lib.sh"

ensure_venv requirements-dev.lock

if [ -z "${TURNBOX_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
  apt_install chromium || die "The browser tests need Chromium: install it (Debian/Ubuntu: apt-get install chromium) or set TURNBOX_CHROMIUM to its path."
fi

# Tests get their own data folder: generated keys and files never mix with a running demo.
TURNBOX_DATA_DIR=$(mktemp -d)
export TURNBOX_DATA_DIR
trap 'rm -rf "$TURNBOX_DATA_DIR"' EXIT

say "ruff"
ruff check .
ruff format --check .
say "pytest"
pytest "$@"
