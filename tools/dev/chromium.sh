#!/usr/bin/env bash
# Makes sure headless Chromium (Debian package `chromium`) is installed and prints its path.
# The local view's browser test and CI call this; it installs only when chromium is missing.
#
#   tools/dev/chromium.sh          install if missing, print the binary's path
#   tools/dev/chromium.sh --check  print the path, or exit 1 when chromium is missing
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || true; }

bin=$(find_chromium)
if [[ -z $bin ]]; then
  [[ ${1:-} == --check ]] && { echo "chromium is not installed (run tools/dev/chromium.sh)" >&2; exit 1; }
  sudo=""
  if (( EUID != 0 )); then
    command -v sudo >/dev/null || { echo "chromium missing: run as root or install sudo" >&2; exit 1; }
    sudo=sudo
  fi
  echo "[chromium] installing the Debian package (first time only)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
  bin=$(find_chromium)
  [[ -n $bin ]] || { echo "chromium still missing after apt-get install" >&2; exit 1; }
fi
echo "$bin"
