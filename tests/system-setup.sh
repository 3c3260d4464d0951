#!/usr/bin/env bash
# The system packages the tests drive, installed with apt where this user may (root, or sudo without a
# password); otherwise one line names what is missing and the tests that need it say so.
# Called by tests/run.sh (the README's test command), so .ci/run and a fresh machine do the same.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { dpkg -s "$1" >/dev/null 2>&1; }
have redis-server || need+=(redis-server)
have redis-cli || need+=(redis-tools)
have node || need+=(nodejs npm)
have chromium || need+=(chromium)
have caddy || need+=(caddy)
have nvim || need+=(neovim)
# tests/infra/test_compose_real.py: Docker Engine and Compose 1.29 from Debian, debootstrap for the
# debian:bookworm-slim base (Docker Hub is out of reach), certutil to trust Caddy's CA in Chromium.
have dockerd || need+=(docker.io)
have docker-compose || need+=(docker-compose)
have debootstrap || need+=(debootstrap)
have certutil || need+=(libnss3-tools)
# tests/browsers: Firefox ESR (driven over WebDriver BiDi, no geckodriver needed), WebKitGTK's
# WebDriver with MiniBrowser, and Xvfb for MiniBrowser, which has no headless mode.
have firefox-esr || need+=(firefox-esr)
have WebKitWebDriver || need+=(webkit2gtk-driver)
have Xvfb || need+=(xvfb)
# tests/editors/test_vscode_real.py: code-server is built from the npm registry alone, which needs a
# C++ toolchain, gssapi.h (kerberos) and Debian's ripgrep (editors/vscode/scripts/install-code-server.sh).
have g++ || need+=(build-essential)
pkg libkrb5-dev || need+=(libkrb5-dev)
have rg || need+=(ripgrep)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "tests/system-setup.sh: missing system packages (install them as root): apt-get install ${need[*]}" >&2
    exit 0
  fi
  echo "installing: ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

# code-server (VS Code 1.100 on Node 20) for the real-VS Code test, built once into the user cache.
if [ -z "${CODE_SERVER:-}" ] && [ ! -f "$HOME/.cache/collab-code-server/.built" ] && have rg && have g++; then
  echo "building code-server 4.100.3 into ~/.cache/collab-code-server (once)"
  bash editors/vscode/scripts/install-code-server.sh "$HOME/.cache/collab-code-server" >/dev/null \
    || echo "tests/system-setup.sh: code-server did not build; tests/editors/test_vscode_real.py will say so" >&2
fi
