#!/usr/bin/env bash
# `kpm get` of an entry of a shared vault (issue #20) with the agent unlocked, against `kpm get` of an
# entry of one's own vault and `node -e 0`, on one device, in one run: a loopback kpm-server (SQLite),
# alice owns the shared vault "Team" (BENCH_SHARED entries, default 20), bob (a writer, BENCH_ENTRIES
# own entries, default 1000) reads it. The agent holds the shared vaults (docs/SHARING.md "The
# agent"), so a shared `kpm get` should cost what an own one does.
# BENCH_KPM=/path/to/bin/kpm measures another build (e.g. main's, before the agent held shared vaults:
# BENCH_KPM=/work/main/bin/kpm BENCH_NO_BUILD=1 bash bench/share.sh); the server is this checkout's.
# Usage: bash bench/share.sh   (knobs: see bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
KPM="${BENCH_KPM:-$KPM}"

N="${BENCH_ENTRIES:-1000}"
S="${BENCH_SHARED:-20}"

ensure_core
build_kpm
new_run_dir
machine_note
log "kpm: $KPM"
log "load: $(uptime)"

start_kpm_server
export KPM_SERVER="$SERVER_URL"
A="$RUN_DIR/alice"
B="$RUN_DIR/bob"
make_kpm_home "$A" 1
make_kpm_home "$B" "$N"
bench_account "$A" alice@bench.example.org
bench_account "$B" bob@bench.example.org
as() { local h="$1"; shift; KPM_HOME="$h" KPM_MASTER_PASSWORD="$MASTER" "$KPM" "$@" >/dev/null 2>"$RUN_DIR/as.err" </dev/null || { cat "$RUN_DIR/as.err" >&2; die "failed: kpm $*"; }; }
as "$B" whoami --fingerprint
as "$A" share Team --with bob@bench.example.org
as "$B" share accept Team
for i in $(seq 0 $((S - 1))); do
  printf 'shared-secret-%s\n' "$i" | KPM_HOME="$A" KPM_MASTER_PASSWORD="$MASTER" "$KPM" add "team$i" --vault Team --password-stdin --no-check >/dev/null 2>&1 || die "add team$i failed"
done
kpm_unlock "$B"
export KPM_HOME="$B"
unset KPM_MASTER_PASSWORD
SHARED="team$((S / 2))"
OWN="site$((N / 2))"
expect_output "kpm get (shared entry)" "shared-secret-$((S / 2))" "$KPM" get "$SHARED" || die "kpm get of the shared entry failed"
expect_output "kpm get (own entry)" "$(entry_password $((N / 2)))" "$KPM" get "$OWN" || die "kpm get of the own entry failed"

header "kpm get with the agent unlocked, on a device with a shared vault ($N own entries, $S shared)"
log "load: $(uptime)"
hf "$RUN_DIR/share.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm get (own entry)" "$KPM get $OWN" \
  -n "kpm get (shared entry)" "$KPM get $SHARED" \
  -n "kpm list (own + shared)" "$KPM list"
print_table "$RUN_DIR/share.json"
log "load: $(uptime)"

header "ratios (same run)"
F="$RUN_DIR/share.json"
ratio "kpm get shared / kpm get own (agent)" "$(median_ms "$F" "kpm get (shared entry)")" "$(median_ms "$F" "kpm get (own entry)")" "≤ 1.1" 1.1
ratio "kpm get shared (agent) / node -e 0" "$(median_ms "$F" "kpm get (shared entry)")" "$(median_ms "$F" "node -e 0")" "≤ 1.25" 1.25
ratio "kpm get own (agent) / node -e 0" "$(median_ms "$F" "kpm get (own entry)")" "$(median_ms "$F" "node -e 0")" "≤ 1.25" 1.25
log "load: $(uptime)"
