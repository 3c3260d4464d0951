#!/usr/bin/env bash
# Run the whole test suite from a fresh checkout: Python venv, the Node packages the tests drive
# (stock Yjs clients, the web client and its WebCrypto test vectors), then pytest.
# System packages (redis, Node, browsers, Neovim, Docker, ...) come from tests/system-setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/system-setup.sh
if [ -z "${CODE_SERVER:-}" ] && [ -f "$HOME/.cache/collab-code-server/.built" ]; then
  export CODE_SERVER="$HOME/.cache/collab-code-server/node_modules/.bin/code-server"  # tests/editors/test_vscode_real.py
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm test --prefix web             # the TypeScript E2EE implementation passes tests/vectors/e2ee.json
npm run check --prefix web        # type-check, and the committed bundle in collab/static matches web/src
npm ci --prefix editors/vscode --no-audit --no-fund --loglevel=error
npm run package --prefix editors/vscode --silent  # the VS Code extension: type-check, bundle, dist/collab.vsix
.venv/bin/ruff check collab tests bench  # undefined names, unused imports
.venv/bin/mypy                           # strict type check of collab/ (pyproject.toml [tool.mypy]); the package ships py.typed
.venv/bin/python -m pytest "$@"
