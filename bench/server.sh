#!/usr/bin/env bash
# kpm-server throughput: authenticated requests per second against loopback servers, SQLite vs
# PostgreSQL, one vs two instances on the same database. Target: ≥ 2,000 requests/s.
# The load generator (bench/lib/server-load.mjs) signs one account in and sends `GET /v1/devices`
# (a ~1.6 KB answer) with `BENCH_CONCURRENCY` requests in flight for `BENCH_SECONDS` per row.
# PostgreSQL: $KPM_TEST_PG if set (a database is created and dropped), else a throw-away cluster.
# Usage: bash bench/server.sh   (knobs: BENCH_SECONDS=10 BENCH_CONCURRENCY=64 BENCH_NO_BUILD=1)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$BENCH_DIR/lib/server-pg.sh"

SECONDS_PER_ROW="${BENCH_SECONDS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-64}"
TARGET=2000

log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "npm run build"
  (cd "$REPO" && npm run build --silent >/dev/null 2>"$WORK_ROOT/build.log") || { cat "$WORK_ROOT/build.log" >&2; die "npm run build failed"; }
fi
[ -f "$REPO/dist/kpm-server.mjs" ] || die "dist/kpm-server.mjs missing: run npm run build"

RUN=$(mktemp -d "$WORK_ROOT/server.XXXXXX")
PIDS=()
PG_DB=""
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$PG_DB" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
  server_pg_stop
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT

# start_instances LABEL N DATABASE — starts N servers on one database; sets URLS (comma-separated)
# and OUTBOX (the mail outbox of the first one).
start_instances() {
  local label=$1 n=$2 db=$3 i urls=() dir
  for ((i = 0; i < n; i++)); do
    dir="$RUN/$label-$n-$i"
    mkdir -p "$dir"
    KPM_SERVER_KEY=$(printf 'ab%.0s' $(seq 32)) node "$REPO/bin/kpm-server" --data-dir "$dir" --database "$db" \
      --port 0 --log-level warn 2>"$dir/stderr" >"$dir/stdout" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -qs 'listening on' "$dir/stderr" && break; sleep 0.1; done
    grep -q 'listening on' "$dir/stderr" || { cat "$dir/stderr" >&2; die "kpm-server did not start"; }
    urls+=("$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$dir/stderr")")
  done
  URLS=$(IFS=,; echo "${urls[*]}")
  OUTBOX="$RUN/$label-$n-0/outbox"
}

stop_instances() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

ROWS=()
row() { # row ENGINE INSTANCES DATABASE
  local json
  start_instances "$1" "$2" "$3"
  json=$(node "$BENCH_DIR/lib/server-load.mjs" --urls "$URLS" --outbox "$OUTBOX" --seconds "$SECONDS_PER_ROW" --concurrency "$CONCURRENCY")
  stop_instances
  ROWS+=("$1	$2	$(jq -r '[.rps, .p50, .p99, .errors, .bytes] | @tsv' <<<"$json")")
  log "$1 × $2: $(jq -r '"\(.rps) req/s, p50 \(.p50) ms, p99 \(.p99) ms, \(.errors) errors"' <<<"$json")"
}

row sqlite 1 "$RUN/sqlite1.sqlite"
row sqlite 2 "$RUN/sqlite2.sqlite"

PG_ADMIN="${KPM_TEST_PG:-}"
if [ -z "$PG_ADMIN" ]; then
  server_pg_start
  PG_ADMIN="$SERVER_PG_URL"
fi
if [ -n "$PG_ADMIN" ]; then
  PG_DB="kpm_bench_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
  PG_URL=$(node -e "const u=new URL(process.argv[1]); u.pathname='/$PG_DB'; console.log(u.toString())" "$PG_ADMIN")
  row postgres 1 "$PG_URL"
  psql "$PG_ADMIN" -qc "DROP DATABASE $PG_DB WITH (FORCE)" >/dev/null; psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
  row postgres 2 "$PG_URL"
fi

printf '\nkpm-server: authenticated GET /v1/devices, %s in flight, %s s per row (target ≥ %s req/s)\n\n' "$CONCURRENCY" "$SECONDS_PER_ROW" "$TARGET"
printf '%-10s %9s %9s %9s %9s %7s %6s  %s\n' engine instances 'req/s' 'p50 ms' 'p99 ms' errors bytes verdict
for r in "${ROWS[@]}"; do
  IFS=$'\t' read -r engine n rps p50 p99 errors bytes <<<"$r"
  verdict=$([ "$rps" -ge "$TARGET" ] && echo "meets target" || echo "MISSES target")
  printf '%-10s %9s %9s %9s %9s %7s %6s  %s\n' "$engine" "$n" "$rps" "$p50" "$p99" "$errors" "$bytes" "$verdict"
  [ -n "${BENCH_SUMMARY:-}" ] && printf 'server %s×%s req/s\t%s\t≥ %s\n' "$engine" "$n" "$rps" "$TARGET" >>"$BENCH_SUMMARY"
done
