#!/usr/bin/env bash
# kpm audit vs keepassxc-cli, offline, on the same 10k login entries and the same 1-million-line
# Pwned Passwords SHA-1 file (ordered by hash, CRLF, 1 entry in 100 listed as breached), one run:
#   - breached check only: `kpm audit --only breached --hibp-file F` vs `keepassxc-cli analyze
#     --hibp F` (which checks breaches and nothing else): the same work;
#   - the whole audit: `kpm audit --hibp-file F` (weak with zxcvbn-ts, reused, old, breached) vs
#     keepassxc-cli analyze --hibp, and vs analyze + `keepassxc-cli db-info` (its password-health
#     counts: the strength of every entry, with KeePassXC's C zxcvbn) as its nearest equivalent;
#     once as a repeated audit (the strength estimates come from kpm's encrypted cache, filled by
#     the first run) and once cold with --no-cache (every password estimated again).
# Every command unlocks from the password on stdin (key derivation each run, no agent), each tool
# with its own default KDF. Both tools must find the same breached entries before anything is timed.
# Usage: bash bench/audit.sh   (knobs: see bench/lib/common.sh; BENCH_RUNS_SLOW=3 for the whole
#        audit; BENCH_AUDIT_ENTRIES=10000 BENCH_AUDIT_LINES=1000000)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_AUDIT_ENTRIES:-10000}"
LINES="${BENCH_AUDIT_LINES:-1000000}"
RUNS_SLOW="${BENCH_RUNS_SLOW:-3}"
EVERY=100

ensure_core
ensure_tools keepassxc-cli:keepassxc
have keepassxc-cli || die "keepassxc-cli is required (apt-get install keepassxc)"
build_kpm
bundle_helper hibp-file
new_run_dir
machine_note
unset KPM_MASTER_PASSWORD KPM_AUDIT_WORKERS

# The bench entries' passwords: hibp-file.ts must compute them as populate.ts does.
for i in 0 1 4321 $((N - 1)); do
  [ "$(node "$WORK_ROOT/hibp-file.mjs" password "$i")" = "$(entry_password "$i")" ] || die "bench/lib/hibp-file.ts and populate.ts disagree on entry $i's password"
done

# ---------------------------------------------------------------- data (the hash file is kept between runs)
HF="$WORK_ROOT/pwned-sha1-$LINES-$N-$EVERY.txt"
if [ ! -f "$HF.done" ]; then
  log "writing a $LINES-line hash file"
  node "$WORK_ROOT/hibp-file.mjs" "$HF" --lines "$LINES" --entries "$N" --every "$EVERY" >"$RUN_DIR/hashfile.json" || die "hash file generation failed"
  touch "$HF.done"
fi
EXPECTED=$(((N + EVERY - 1) / EVERY))
log "hash file: $(wc -l <"$HF") lines, $(du -m "$HF" | cut -f1) MB; $EXPECTED of the $N entries are in it"

K="$RUN_DIR/kpm"
make_kpm_home "$K" "$N"
KDBX="$(make_kdbx "$N")"
log "KeePass database: $(printf '%s\n' "$MASTER" | keepassxc-cli db-info -q "$KDBX" 2>/dev/null | grep -E '^(KDF|Cipher):' | tr '\n' ' ')"

# ---------------------------------------------------------------- same answers first
got_kpm="$(KPM_HOME="$K" "$KPM" audit --json --only breached --hibp-file "$HF" --password-stdin <"$RUN_DIR/master.txt" | jq '.summary.breached')"
got_kx="$(keepassxc-cli analyze -q --hibp "$HF" "$KDBX" <"$RUN_DIR/master.txt" | grep -c 'has been leaked' || true)"
[ "$got_kpm" = "$EXPECTED" ] || die "kpm audit found $got_kpm breached entries, expected $EXPECTED"
[ "$got_kx" = "$EXPECTED" ] || die "keepassxc-cli analyze found $got_kx breached entries, expected $EXPECTED"
full="$(KPM_HOME="$K" "$KPM" audit --json --hibp-file "$HF" --password-stdin <"$RUN_DIR/master.txt" | jq -c '.summary')"
log "both find $EXPECTED breached entries; kpm's whole audit: $full"

# ---------------------------------------------------------------- timing
KPM_BREACHED="KPM_HOME=$K $KPM audit --only breached --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
KPM_ALL="KPM_HOME=$K $KPM audit --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
KPM_COLD="KPM_HOME=$K $KPM audit --no-cache --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
KX_ANALYZE="keepassxc-cli analyze -q --hibp $HF $KDBX < $RUN_DIR/master.txt"
KX_DBINFO="keepassxc-cli db-info -q $KDBX < $RUN_DIR/master.txt"

header "breached check, $N entries, $LINES-line hash file (offline)"
hf "$RUN_DIR/breached.json" -S sh \
  -n "kpm audit --only breached" "$KPM_BREACHED" \
  -n "keepassxc-cli analyze --hibp" "$KX_ANALYZE" \
  -n "keepassxc-cli db-info" "$KX_DBINFO"
print_table "$RUN_DIR/breached.json"

header "whole audit (weak, reused, old, breached), $N entries"
RUNS="$RUNS_SLOW" WARMUP=1 hf "$RUN_DIR/all.json" -S sh -n "kpm audit (all checks)" "$KPM_ALL"
RUNS="$RUNS_SLOW" WARMUP=0 hf "$RUN_DIR/cold.json" -S sh -n "kpm audit --no-cache (all checks)" "$KPM_COLD"
print_table "$RUN_DIR/all.json" "$RUN_DIR/cold.json"

kpm_b="$(median_ms "$RUN_DIR/breached.json" "kpm audit --only breached")"
kx_a="$(median_ms "$RUN_DIR/breached.json" "keepassxc-cli analyze --hibp")"
kx_i="$(median_ms "$RUN_DIR/breached.json" "keepassxc-cli db-info")"
kpm_all="$(median_ms "$RUN_DIR/all.json" "kpm audit (all checks)")"
kpm_cold="$(median_ms "$RUN_DIR/cold.json" "kpm audit --no-cache (all checks)")"
kx_both="$(awk -v a="$kx_a" -v b="$kx_i" 'BEGIN { printf "%.1f", a + b }')"

header "ratios (below 1 = kpm faster)"
ratio "audit breached only: kpm / keepassxc analyze" "$kpm_b" "$kx_a" "< 1×" 1
ratio "whole audit: kpm / keepassxc analyze" "$kpm_all" "$kx_a" "< 1×" 1
ratio "whole audit: kpm / keepassxc analyze+db-info" "$kpm_all" "$kx_both" "< 1×" 1
ratio "whole audit, cold (--no-cache): kpm / keepassxc analyze" "$kpm_cold" "$kx_a" "< 1×" 1
value "kpm whole audit, per entry" "$(awk -v t="$kpm_all" -v n="$N" 'BEGIN { printf "%.2f", t / n }')" "ms"
value "kpm whole audit --no-cache, per entry" "$(awk -v t="$kpm_cold" -v n="$N" 'BEGIN { printf "%.2f", t / n }')" "ms"
