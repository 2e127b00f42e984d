#!/usr/bin/env bash
# Writes through the unlocked agent on a 1k-entry vault (#17): `kpm add`, `kpm edit`, `kpm rm`
# against `node -e 0`, and `kpm run -- node -e 0` with one reference against the child alone,
# interleaved in one loop (bench/lib/writetime.mjs; needs neither hyperfine nor jq).
# Usage: bash bench/write.sh   (BENCH_ENTRIES=1000, BENCH_RUNS, BENCH_WARMUP; see bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-1000}"
build_kpm
new_run_dir
machine_note
log "load: $(uptime)"

KH="$RUN_DIR/kpm"
make_kpm_home "$KH" "$N"
export KPM_HOME="$KH" KPM_OFFLINE=1
unset KPM_MASTER_PASSWORD
kpm_unlock "$KH"

header "writes through the agent ($N entries), kpm run with one reference"
node "$BENCH_DIR/lib/writetime.mjs" "$KPM" "$RUNS" "$WARMUP"
log "load: $(uptime)"
