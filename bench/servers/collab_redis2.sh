#!/usr/bin/env bash
# The collab hub as two processes sharing rooms through one Redis (workload f).
#
#   collab_redis2.sh COLLAB_BIN PORT PORT2 REDIS_PORT DIR [HUB FLAGS...]
#
# Starts its own redis-server on REDIS_PORT (never the machine's 6379) with its files under
# DIR/redis (no RDB snapshots, AOF fsynced every second), then `collab serve --redis` on PORT and
# on PORT2, each with its own data directory and the HUB FLAGS (servers.mjs passes the limits the
# benchmark lifts: COLLAB_BENCH_FLAGS). Everything stays in this script's process group,
# so the runner's SIGTERM to the group stops all three; `wait` keeps the group leader alive
# (the runner samples CPU and RSS over the whole tree) until one of them exits.
set -euo pipefail
COLLAB="$1"; PORT="$2"; PORT2="$3"; RPORT="$4"; DIR="$5"
shift 5
mkdir -p "$DIR/redis" "$DIR/hub-a" "$DIR/hub-b"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR/redis" --save '' \
  --appendonly yes --appendfsync everysec --protected-mode no --logfile "$DIR/redis/redis.log" &
for _ in $(seq 100); do
  [ "$(redis-cli -p "$RPORT" ping 2>/dev/null || true)" = PONG ] && break
  sleep 0.05
done
[ "$(redis-cli -p "$RPORT" ping 2>/dev/null || true)" = PONG ] || { echo "redis-server did not answer on $RPORT"; cat "$DIR/redis/redis.log"; exit 1; }
URL="redis://127.0.0.1:$RPORT/0"
"$COLLAB" serve --host 127.0.0.1 --port "$PORT" --data "$DIR/hub-a" --redis "$URL" "$@" &
"$COLLAB" serve --host 127.0.0.1 --port "$PORT2" --data "$DIR/hub-b" --redis "$URL" "$@" &
wait -n
echo "one of redis-server / the two hubs exited"
