#!/usr/bin/env bash
# Installs the browser the playground's end-to-end test drives: Debian's chromium (WebGPU runs in it on
# its own SwiftShader). Idempotent: a second run does nothing. Set TILEBIT_CHROMIUM to use another
# Chromium binary instead.
set -euo pipefail
if [ -n "${TILEBIT_CHROMIUM:-}" ] || command -v chromium >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-browser: no apt-get here, so chromium was not installed (the playground test needs it: set TILEBIT_CHROMIUM)" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-browser: not root, so chromium was not installed (run this script once as root, or set TILEBIT_CHROMIUM)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
echo "setup-browser: installed $(chromium --version 2>/dev/null)"
