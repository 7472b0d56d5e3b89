#!/usr/bin/env bash
# The browser tests drive Debian's chromium package (never a downloaded browser): install it if
# it is missing. Needs root or sudo, like any apt-get install.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "Installing Debian's chromium for the browser tests..." >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
[ -x "$CHROMIUM" ] || { echo "chromium did not install at $CHROMIUM" >&2; exit 1; }
