#!/usr/bin/env bash
# The list targets of issue 17 without hyperfine (bench/lib/listtime.mjs, one interleaved loop):
#   the first `kpm list` right after unlocking 100k entries (the summary index, src/vault/summaryindex.ts)
#   and a later one; `kpm list` of 10k with the agent vs `node -e 0`; `kpm get` without an agent vs
#   `keepassxc-cli show` (10k). Prints medians, ratios and `uptime` before and after.
# Usage: bash bench/lists.sh   (BENCH_RUNS, BENCH_WARMUP; see bench/README.md)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

ensure_tools keepassxc-cli:keepassxc
build_kpm
new_run_dir
machine_note
log "load: $(uptime)"
unset KPM_MASTER_PASSWORD

K10="$RUN_DIR/kpm10k" K100="$RUN_DIR/kpm100k"
make_kpm_home "$K10" 10000
log "populating 100000 entries (bulk commits through kpm's Vault.write)"
make_kpm_home "$K100" 100000
KDBX=""
if have keepassxc-cli; then KDBX="$(make_kdbx 10000)"; else log "keepassxc-cli not available: skipping it"; fi
KDBX_A=""
if [ -n "$KDBX" ]; then
  # the same 10k entries at (about) kpm's KDF work: Argon2id 64 MiB, 3 passes (kpm export --format kdbx)
  printf '%s\n%s\n' "$MASTER" "$MASTER" | KPM_HOME="$K10" "$KPM" export --format kdbx -o "$RUN_DIR/argon2.kdbx" --password-stdin --export-password-stdin >/dev/null 2>&1 && KDBX_A="$RUN_DIR/argon2.kdbx"
fi
kpm_unlock "$K10"
# The summary index is written by an agent once it has every summary: one full list first (the
# slow path, as the very first list after an import), then lock. Every timed first list is then
# what a user gets after the next unlock.
kpm_unlock "$K100"
[ "$(KPM_HOME="$K100" "$KPM" list | wc -l)" = 100000 ] || die "kpm list on 100000 entries did not print 100000 lines"
kpm_lock "$K100"

header "lists (10k, 100k) and get without an agent (10k), one loop"
node "$BENCH_DIR/lib/listtime.mjs" "$KPM" "$K10" "$K100" "$RUN_DIR/master.txt" "$RUNS" "$WARMUP" $KDBX $KDBX_A
log "load: $(uptime)"
