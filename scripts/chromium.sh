# The browser of the Playwright tests, sourced after lib.sh. ensure_chromium exports
# TURNBOX_CHROMIUM: the one given, else the first Chromium or Chrome on PATH that starts
# (Ubuntu's chromium-browser can be a stub that only asks for a snap), else Debian's
# chromium installed as root.

ensure_chromium() {
  if [ -n "${TURNBOX_CHROMIUM:-}" ]; then
    browser_runs "$TURNBOX_CHROMIUM" && return 0
    die "TURNBOX_CHROMIUM=$TURNBOX_CHROMIUM does not start (tried: $TURNBOX_CHROMIUM --version)."
  fi
  find_chromium && return 0
  apt_install chromium && find_chromium && return 0
  die "The browser tests need Chromium: install it (Debian: apt-get install chromium) or set TURNBOX_CHROMIUM to a Chromium or Chrome binary; -m 'not browser' runs the rest."
}

find_chromium() {
  local name
  for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null && browser_runs "$(command -v "$name")" || continue
    TURNBOX_CHROMIUM=$(command -v "$name")
    export TURNBOX_CHROMIUM
    return 0
  done
  return 1
}

browser_runs() {
  "$1" --version >/dev/null 2>&1
}
