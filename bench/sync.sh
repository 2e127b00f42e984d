#!/usr/bin/env bash
# Sync over loopback against a real kpm-server (SQLite): the first sync of a 10k-entry vault (device A
# sends everything; a new device B receives everything), and an incremental sync of one change (A
# sends one entry; B receives it). Targets from issue 17: one change sent / received (whole command)
# ≤ 1.3× `kpm get` through the agent; the first sync of N entries ≤ 10× `kpm list` of the same N
# (and the older absolute ones: first sync < 2 s, one change < 100 ms).
# There is no peer to run offline (bw and op need their vendors' clouds), so the floor printed next
# to the figures is `node -e 0` and `kpm get` through the agent, measured in the same run.
# Usage: bash bench/sync.sh   (knobs: see bench/lib/common.sh; BENCH_ENTRIES=10000, BENCH_INC_RUNS=10)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-10000}"
INC_RUNS="${BENCH_INC_RUNS:-10}"
# timed by its own loop (no hyperfine); jq is needed
ensure_tools jq:jq
have jq || die "jq is required"
build_kpm
new_run_dir
machine_note
log "load: $(uptime)"

start_kpm_server
export KPM_SERVER="$SERVER_URL"
A="$RUN_DIR/a"
B="$RUN_DIR/b"
EMAIL=bench@example.org
make_kpm_home "$A" "$N"
bench_account "$A" "$EMAIL"
KPM_HOME="$A" "$KPM" --offline unlock --password-stdin --timeout 60 <"$RUN_DIR/master.txt" >/dev/null 2>&1 || die "unlock A failed"


FIRST_PUSH=$(KPM_HOME="$A" timed "$KPM" sync)
bench_login "$B" "$EMAIL"
_kpm_homes+=("$B")
KPM_HOME="$B" "$KPM" --offline unlock --password-stdin --timeout 60 <"$RUN_DIR/master.txt" >/dev/null 2>&1 || die "unlock B failed"
FIRST_PULL=$(KPM_HOME="$B" timed "$KPM" sync)
got="$(KPM_HOME="$B" "$KPM" list --json | jq length)"
[ "$got" = "$N" ] || die "device B has $got entries after the first sync, expected $N"

# The floor is timed in the same loop, one of each per round, so that a change of load hits all alike.
push_times=() pull_times=() node_times=() get_times=() list_times=()
for i in $(seq "$INC_RUNS"); do
  printf 'inc-secret-%s\n' "$i" | KPM_HOME="$A" "$KPM" --offline add "inc$i" --password-stdin --no-check >/dev/null 2>&1 || die "add failed"
  push_times+=("$(KPM_HOME="$A" timed "$KPM" sync)")
  pull_times+=("$(KPM_HOME="$B" timed "$KPM" sync)")
  node_times+=("$(timed node -e 0)")
  get_times+=("$(KPM_HOME="$B" timed "$KPM" get site1)")
  list_times+=("$(KPM_HOME="$B" timed "$KPM" list)")
done
[ "$(KPM_HOME="$B" "$KPM" get "inc$INC_RUNS")" = "inc-secret-$INC_RUNS" ] || die "device B did not receive the change"
INC_PUSH=$(printf '%s\n' "${push_times[@]}" | median)
INC_PULL=$(printf '%s\n' "${pull_times[@]}" | median)

NODE=$(printf '%s\n' "${node_times[@]}" | median)
GET=$(printf '%s\n' "${get_times[@]}" | median)
LIST=$(printf '%s\n' "${list_times[@]}" | median)

header "sync over loopback, $N entries (SQLite server, agents unlocked)"
value "first sync, A sends $N entries" "$FIRST_PUSH" ms "< 2000 ms" 2000
value "first sync, new device B receives $N" "$FIRST_PULL" ms "< 2000 ms" 2000
value "one change, A sends (median of $INC_RUNS)" "$INC_PUSH" ms "< 100 ms" 100
value "one change, B receives (median of $INC_RUNS)" "$INC_PULL" ms "< 100 ms" 100
value "floor: node -e 0 (median, same loop)" "$NODE" ms
value "floor: kpm get through the agent (same loop)" "$GET" ms
value "kpm list of the $N entries (agent, same loop)" "$LIST" ms
ratio "one change sent / kpm get (agent)" "$INC_PUSH" "$GET" "≤ 1.3" 1.3
ratio "one change received / kpm get (agent)" "$INC_PULL" "$GET" "≤ 1.3" 1.3
ratio "first sync sent / kpm list (agent, $N)" "$FIRST_PUSH" "$LIST" "≤ 10" 10
ratio "first sync received / kpm list (agent, $N)" "$FIRST_PULL" "$LIST" "≤ 10" 10
log "load: $(uptime)"
