#!/usr/bin/env bash
# One command for the whole benchmark: installs the pinned peers, runs every workload against
# every server (each on a fresh process bound to 127.0.0.1), writes bench/out/results.json,
# bench/out/report.md and bench/out/*.png, and (full runs that include the collab hub only)
# bench/RESULTS.md with its plots in bench/results/.
#
#   bash bench/run.sh                 # full run, at most ~15 minutes on 2 cores
#   bash bench/run.sh --quick         # a few seconds per workload: a smoke check
#   bash bench/run.sh --servers y-websocket,collab --workloads a,c
#
# Environment: PYTHON (for the peers venv, default python3), COLLAB_BIN (default
# <repo>/.venv/bin/collab; the collab entry is skipped with a message when it is missing).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$BENCH"
PYTHON="${PYTHON:-python3}"
QUICK=0
SUBSET=0
for a in "$@"; do
  [ "$a" = "--quick" ] && QUICK=1
  case "$a" in --servers|--servers=*|--workloads|--workloads=*) SUBSET=1 ;; esac
done

step() { printf '\n== %s\n' "$*"; }

step "node $(node --version), npm $(npm --version)"
# pinned npm dependencies, reinstalled only when package-lock.json changed
LOCK_SUM="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.bench-lock 2>/dev/null || true)" != "$LOCK_SUM" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$LOCK_SUM" > node_modules/.bench-lock
fi

# pycrdt-websocket, uvicorn and matplotlib in their own venv (pinned)
REQ_SUM="$(sha256sum requirements-peers.txt | cut -d' ' -f1)"
if [ ! -x .venv-peers/bin/python ] || [ "$(cat .venv-peers/.bench-req 2>/dev/null || true)" != "$REQ_SUM" ]; then
  step "pip install -r requirements-peers.txt into bench/.venv-peers"
  [ -x .venv-peers/bin/python ] || "$PYTHON" -m venv .venv-peers
  .venv-peers/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-peers.txt
  echo "$REQ_SUM" > .venv-peers/.bench-req
fi

step "load generator self-test (wire formats against Yjs)"
node loadgen/selftest.mjs

step "running workloads"
node loadgen/bench.mjs "$@" --command "bash bench/run.sh $*"

step "report"
if [ "$QUICK" = 1 ] || [ "$SUBSET" = 1 ]; then
  # a quick or partial run must not replace the committed full report
  .venv-peers/bin/python report.py
  echo "bench/RESULTS.md left as it was: only a full run (no --quick, --servers or --workloads) writes it"
else
  .venv-peers/bin/python report.py --write-results-md
fi
