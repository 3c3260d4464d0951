#!/usr/bin/env bash
# Run the whole test suite from a fresh checkout: Python venv, the Node packages the tests drive, pytest.
# Needs Python 3.11+, Node 20 + npm, redis-server and Chromium on PATH (README lists the apt packages).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
status=0
.venv/bin/python -m pytest "$@" || status=$?
exit $status
