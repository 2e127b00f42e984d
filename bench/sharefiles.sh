#!/usr/bin/env bash
# Files in a shared vault against a real kpm-server (SQLite, loopback): alice adds a document to her
# shared vault "Team" (`kpm doc add --vault Team`: sealed, sent, a signed record) and bob reads it
# (`kpm sync`, then `kpm doc get`: fetched, checked against the record, decrypted; with his agent
# unlocked another member's change arrives with his next sync, as an own vault's change from another
# device does: docs/SHARING.md "The agent"). The peer is the same file through
# an own vault, measured in the same loop: alice's `kpm doc add` + `kpm sync` (the blob goes up), and
# alice's second device's `kpm sync` + `kpm doc get` (the blob comes down). Prints the medians and
# the ratios shared / own, with the load average beside each round. No targets: a figure to watch.
# Usage: bash bench/sharefiles.sh   (knobs: BENCH_SHARE_MIB=64 BENCH_SHARE_RUNS=3, and bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

MIB="${BENCH_SHARE_MIB:-64}"
SRUNS="${BENCH_SHARE_RUNS:-3}"
build_kpm
new_run_dir
machine_note
start_kpm_server
export KPM_SERVER="$SERVER_URL"
A="$RUN_DIR/a" A2="$RUN_DIR/a2" B="$RUN_DIR/b"
make_kpm_home "$A" 1
make_kpm_home "$B" 1
bench_account "$A" alice@bench.example.org
bench_account "$B" bob@bench.example.org
kpm_unlock "$A"
kpm_unlock "$B"
M=(env KPM_MASTER_PASSWORD="$MASTER")
KPM_HOME="$B" "${M[@]}" "$KPM" whoami --fingerprint >/dev/null 2>&1 || die "whoami failed"
KPM_HOME="$A" "${M[@]}" "$KPM" share Team --with bob@bench.example.org >/dev/null 2>&1 || die "share failed"
KPM_HOME="$B" "${M[@]}" "$KPM" share accept Team >/dev/null 2>&1 || die "accept failed"
KPM_HOME="$A" "$KPM" sync >/dev/null 2>&1 || die "sync failed"
mkdir -p "$A2"
_kpm_homes+=("$A2")
bench_login "$A2" alice@bench.example.org
kpm_unlock "$A2"

FILE="$RUN_DIR/doc-$MIB.bin"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$FILE"

plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }

sh_add=() own_add=() sh_get=() own_get=()
for i in $(seq "$SRUNS"); do
  sync
  sh_add+=("$(KPM_HOME="$A" timed "$KPM" doc add "s$i" "$FILE" --vault Team)")
  sync
  own_add+=("$(plus "$(KPM_HOME="$A" timed "$KPM" doc add "o$i" "$FILE")" "$(KPM_HOME="$A" timed "$KPM" sync)")")
  sync
  sh_get+=("$(plus "$(KPM_HOME="$B" timed "$KPM" sync)" "$(KPM_HOME="$B" timed "$KPM" doc get "s$i" -o "$RUN_DIR/s$i.out")")")
  sync
  own_get+=("$(plus "$(KPM_HOME="$A2" timed "$KPM" sync)" "$(KPM_HOME="$A2" timed "$KPM" doc get "o$i" -o "$RUN_DIR/o$i.out")")")
  cmp -s "$FILE" "$RUN_DIR/s$i.out" || die "bob's copy of s$i differs"
  cmp -s "$FILE" "$RUN_DIR/o$i.out" || die "the second device's copy of o$i differs"
  rm -f "$RUN_DIR/s$i.out" "$RUN_DIR/o$i.out"
  log "round $i: shared add ${sh_add[-1]} ms, own add+sync ${own_add[-1]} ms, shared sync+get ${sh_get[-1]} ms, own sync+get ${own_get[-1]} ms; load: $(uptime)"
done

header "files in a shared vault, $MIB MiB, median of $SRUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
SA=$(printf '%s\n' "${sh_add[@]}" | median)
OA=$(printf '%s\n' "${own_add[@]}" | median)
SG=$(printf '%s\n' "${sh_get[@]}" | median)
OG=$(printf '%s\n' "${own_get[@]}" | median)
ratio "shared doc add / own doc add + sync" "$SA" "$OA"
ratio "shared sync + doc get (member) / own sync + doc get (2nd device)" "$SG" "$OG"
