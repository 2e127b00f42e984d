#!/usr/bin/env bash
# kpm audit vs keepassxc-cli, offline, on the same 10k login entries and the same 1-million-line
# Pwned Passwords SHA-1 file (ordered by hash, CRLF, 1 entry in 100 listed as breached), all commands
# in interleaved rounds (each once per round, the load printed beside every run; and the CPU time):
#   - breached check only: `kpm audit --only breached --hibp-file F` vs `keepassxc-cli analyze
#     --hibp F` (which checks breaches and nothing else): the same work;
#   - the whole audit: `kpm audit --hibp-file F` (weak with zxcvbn-ts, reused, old, breached) vs
#     keepassxc-cli analyze --hibp, and vs analyze + `keepassxc-cli db-info` (its password-health
#     counts: the strength of every entry, with KeePassXC's C zxcvbn) as its nearest equivalent;
#     once as a repeated audit (the strength estimates come from kpm's encrypted cache, filled by
#     the first run) and once cold with --no-cache (every password estimated again);
#   - the same three kpm commands of the base build (BENCH_BASE), on its own copy of the profile.
# Every command unlocks from the password on stdin (key derivation each run, no agent), each tool
# with its own default KDF. Both tools must find the same breached entries before anything is timed.
# Usage: bash bench/audit.sh   (knobs: see bench/lib/common.sh; BENCH_ROUNDS=3 interleaved rounds,
#        ROUNDS_SLOW=N to run the base build's cold audit in the first N only; BENCH_BASE=DIR the
#        build compared with, default /work/main; BENCH_AUDIT_ENTRIES=10000 BENCH_AUDIT_LINES=1000000)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_AUDIT_ENTRIES:-10000}"
LINES="${BENCH_AUDIT_LINES:-1000000}"
EVERY=100

# the interleaved loop (bench/lib/auditloop.mjs) times the commands itself: no hyperfine needed here
ensure_tools jq:jq keepassxc-cli:keepassxc
have jq || die "jq is required"
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
# Interleaved rounds (bench/lib/auditloop.mjs): every command once per round, with the load printed.
# BENCH_BASE=DIR (default /work/main when it has a build) adds that checkout's kpm (its own copy of
# the profile, so that the two builds' strength caches do not replace each other).
ROUNDS="${BENCH_ROUNDS:-3}"
BASE="${BENCH_BASE:-/work/main}"
KX_ANALYZE="keepassxc-cli analyze -q --hibp $HF $KDBX < $RUN_DIR/master.txt"
KX_DBINFO="keepassxc-cli db-info -q $KDBX < $RUN_DIR/master.txt"
cases=(
  -n "keepassxc-cli analyze --hibp" "$KX_ANALYZE"
  -n "keepassxc-cli db-info" "$KX_DBINFO"
  -n "kpm audit --only breached" "KPM_HOME=$K $KPM audit --only breached --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
  -n "kpm audit (all checks)" "KPM_HOME=$K $KPM audit --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
  -n "kpm audit --no-cache (all checks)" "KPM_HOME=$K $KPM audit --no-cache --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
)
if [ -x "$BASE/bin/kpm" ] && [ -f "$BASE/dist/kpm.mjs" ] && [ "$(cd "$BASE" && pwd -P)" != "$(cd "$REPO" && pwd -P)" ]; then
  KB="$RUN_DIR/kpm-base"
  cp -a "$K" "$KB"
  _kpm_homes+=("$KB")
  KPM_HOME="$KB" "$BASE/bin/kpm" audit --hibp-file "$HF" --password-stdin <"$RUN_DIR/master.txt" >/dev/null # fills its cache
  log "base build: $BASE ($(git -C "$BASE" log -1 --format=%h 2>/dev/null || echo '?'))"
  cases+=(
    -n "base: kpm audit --only breached" "KPM_HOME=$KB $BASE/bin/kpm audit --only breached --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
    -n "base: kpm audit (all checks)" "KPM_HOME=$KB $BASE/bin/kpm audit --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
    -n "base: kpm audit --no-cache (all checks)*" "KPM_HOME=$KB $BASE/bin/kpm audit --no-cache --hibp-file $HF --password-stdin < $RUN_DIR/master.txt"
  )
fi
# one untimed warm-up of kpm's own cache (the check above filled it already) and of the file cache
KPM_HOME="$K" "$KPM" audit --hibp-file "$HF" --password-stdin <"$RUN_DIR/master.txt" >/dev/null

header "$ROUNDS interleaved rounds: $N entries, $LINES-line hash file (offline)"
node "$BENCH_DIR/lib/auditloop.mjs" "$RUN_DIR/loop.json" "$ROUNDS" "${cases[@]}"
print_table "$RUN_DIR/loop.json"

m() { median_ms "$RUN_DIR/loop.json" "$1"; }
kx_a="$(m "keepassxc-cli analyze --hibp")"
kx_i="$(m "keepassxc-cli db-info")"
kx_both="$(awk -v a="$kx_a" -v b="$kx_i" 'BEGIN { printf "%.1f", a + b }')"
kpm_b="$(m "kpm audit --only breached")"
kpm_all="$(m "kpm audit (all checks)")"
kpm_cold="$(m "kpm audit --no-cache (all checks)")"

header "ratios (below 1 = kpm faster; medians of the interleaved rounds)"
ratio "audit breached only: kpm / keepassxc analyze" "$kpm_b" "$kx_a" "< 1×" 1
ratio "whole audit: kpm / keepassxc analyze" "$kpm_all" "$kx_a" "< 1×" 1
ratio "whole audit: kpm / keepassxc analyze+db-info" "$kpm_all" "$kx_both" "< 1×" 1
ratio "whole audit, cold (--no-cache): kpm / keepassxc analyze" "$kpm_cold" "$kx_a" "< 1×" 1
if [ -n "${KB:-}" ]; then
  ratio "base build: breached only / keepassxc analyze" "$(m "base: kpm audit --only breached")" "$kx_a"
  ratio "base build: whole audit / keepassxc analyze" "$(m "base: kpm audit (all checks)")" "$kx_a"
  ratio "base build: whole audit, cold / keepassxc analyze" "$(m "base: kpm audit --no-cache (all checks)")" "$kx_a"
  ratio "this build / base: whole audit" "$kpm_all" "$(m "base: kpm audit (all checks)")"
  ratio "this build / base: whole audit, cold" "$kpm_cold" "$(m "base: kpm audit --no-cache (all checks)")"
fi
value "kpm whole audit, per entry" "$(awk -v t="$kpm_all" -v n="$N" 'BEGIN { printf "%.2f", t / n }')" "ms"
value "kpm whole audit --no-cache, per entry" "$(awk -v t="$kpm_cold" -v n="$N" 'BEGIN { printf "%.2f", t / n }')" "ms"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
