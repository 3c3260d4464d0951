#!/usr/bin/env bash
# code-server 4.100.3 (VS Code 1.100.3) from the npm registry alone, for tests/editors/test_vscode_real.py.
#
# A plain `npm install code-server@4.100.3` does not work offline: its postinstall (as root it also
# wants --unsafe-perm) runs `npm install` in lib/vscode, whose packages fetch from GitHub, which is
# unreachable here: @vscode/ripgrep downloads rg from api.github.com (no fallback), and argon2,
# kerberos, node-pty, @vscode/spdlog, native-watchdog... try prebuilt binaries from github.com and
# fall back to compiling, which needs a C++ toolchain and libkrb5-dev (gssapi.h) for kerberos.
# So: install with scripts off, put Debian's rg where @vscode/ripgrep looks (its postinstall then
# skips the download), compile the native modules, and do the rest of postinstall.sh by hand.
# Needs: apt-get install -y build-essential python3 libkrb5-dev ripgrep
# Usage: install-code-server.sh [DIR]; prints the CODE_SERVER=... to export.
set -euo pipefail
dest=$(realpath -m "${1:-$HOME/.cache/collab-code-server}")
rg=$(command -v rg) || { echo "needs ripgrep (apt-get install ripgrep)" >&2; exit 1; }
mkdir -p "$dest"
cd "$dest"
[ -f package.json ] || npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund --loglevel=error code-server@4.100.3
npm rebuild argon2 --loglevel=error
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$rg" node_modules/@vscode/ripgrep/bin/rg
# node-pty's postinstall fails after pty.node is built (it runs `npx node-gyp` to write
# compile_commands.json, which npx will not fetch unasked): check the binaries instead.
npm rebuild --loglevel=error || true
for built in node-pty/build/Release/pty.node @vscode/spdlog/build/Release/spdlog.node \
             native-watchdog/build/Release/watchdog.node kerberos/build/Release/kerberos.node; do
  [ -f "node_modules/$built" ] || { echo "not built: $built" >&2; exit 1; }
done
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --omit=dev --no-audit --no-fund --loglevel=error)
touch "$dest/.built"  # the last step: a cut or failed build is built again next time
echo "CODE_SERVER=$dest/node_modules/.bin/code-server"
