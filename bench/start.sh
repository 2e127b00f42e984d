#!/usr/bin/env bash
# The full program's start-up (#17): `kpm config get color` (a config.json present), `kpm status`
# and `kpm generate`, commands the fast path hands to the full program, against `node -e 0` in one
# interleaved loop. BENCH_KPM_BEFORE=/path/to/other/bin/kpm times another build in the same rounds.
# Usage: bash bench/start.sh   (BENCH_RUNS, BENCH_WARMUP; see bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

build_kpm
new_run_dir
machine_note
log "load: $(uptime)"

KH="$RUN_DIR/kpm"
make_kpm_home "$KH" 10
export KPM_HOME="$KH" KPM_OFFLINE=1
unset KPM_MASTER_PASSWORD
node "$KPM" config set color never >/dev/null 2>&1

header "full-program start: config get, status, generate"
node "$BENCH_DIR/lib/starttime.mjs" "$KPM" "$RUNS" "$WARMUP" "${BENCH_KPM_BEFORE:-}"
log "load: $(uptime)"
