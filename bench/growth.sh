#!/usr/bin/env bash
# Vault and server database size after many edits of one entry (issue 17: "bounded by the retention
# settings"). A profile of BENCH_GROWTH_ENTRIES entries signed in to a loopback kpm-server (SQLite)
# is synced; then one entry is edited BENCH_EDITS times (10k; one commit per edit, through kpm's own
# Session.update, as `kpm edit` does it) and synced again. When this kpm has `kpm history purge`,
# the entry's history is purged and synced once more, and the sizes are printed a third time;
# otherwise the script says "not available". Sizes: the profile's vault files (data/vaults) and the
# server's data folder (the SQLite database and its WAL); ratios are against the sizes before the
# edits, measured in the same run.
# Usage: bash bench/growth.sh   (knobs: BENCH_EDITS=10000 BENCH_GROWTH_ENTRIES=100, bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

EDITS="${BENCH_EDITS:-10000}"
ENTRIES="${BENCH_GROWTH_ENTRIES:-100}"

ensure_tools jq:jq # sizes only: no hyperfine needed
have jq || die "jq is required"
build_kpm
bundle_helper edits
new_run_dir
machine_note
unset KPM_MASTER_PASSWORD

start_kpm_server
export KPM_SERVER="$SERVER_URL"
A="$RUN_DIR/a"
make_kpm_home "$A" "$ENTRIES"
bench_account "$A" growth@example.org
NAME=site0

vault_bytes() { du -sb "$A/data/vaults" | cut -f1; }
server_bytes() { du -sb --exclude=outbox --exclude=stderr --exclude=stdout "$SRV" | cut -f1; }
kpm_a() { KPM_HOME="$A" KPM_MASTER_PASSWORD="$MASTER" "$KPM" "$@"; }
sync_a() { kpm_a sync >/dev/null 2>"$RUN_DIR/sync.err" || { cat "$RUN_DIR/sync.err" >&2; die "kpm sync failed"; }; }
# bratio LABEL NUM DEN — a size ratio, printed and added to the summary.
bratio() {
  local r; r="$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')"
  printf '  %-46s %6s×   (%s / %s bytes)\n' "$1" "$r" "$2" "$3"
  summary "$1" "${r}×" "" ""
}
human() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MiB", b / 1048576; else printf "%.0f KiB", b / 1024 }'; }

sync_a
v0="$(vault_bytes)"; s0="$(server_bytes)"
log "before: vault $(human "$v0"), server $(human "$s0")"

log "editing $NAME $EDITS times"
KPM_HOME="$A" KPM_BENCH_PASSWORD="$MASTER" node "$WORK_ROOT/edits.mjs" "$NAME" --count "$EDITS" >"$RUN_DIR/edits.json" || die "edits failed"
log "edits: $(cat "$RUN_DIR/edits.json")"
sync_a
v1="$(vault_bytes)"; s1="$(server_bytes)"
versions="$(kpm_a history "$NAME" 2>/dev/null | grep -c . || true)"

purge="not available"
if kpm_a history --help 2>/dev/null | grep -q "purge"; then
  yes=()
  kpm_a history purge --help 2>/dev/null | grep -q -- '--yes' && yes=(--yes)
  if kpm_a history purge "$NAME" "${yes[@]}" </dev/null >"$RUN_DIR/purge.out" 2>&1; then
    sync_a
    purge="done"
  else
    purge="failed: $(head -n 1 "$RUN_DIR/purge.out")"
  fi
fi

header "sizes after $EDITS edits of one entry ($ENTRIES entries, synced to a SQLite kpm-server)"
printf '  %-34s %14s %14s\n' '' 'vault files' 'server data'
printf '  %-34s %14s %14s\n' 'before the edits' "$(human "$v0")" "$(human "$s0")"
printf '  %-34s %14s %14s\n' "after $EDITS edits" "$(human "$v1")" "$(human "$s1")"
log "kpm history $NAME lists $versions lines after the edits"
summary "growth: vault after $EDITS edits of one entry" "$(human "$v1")" "bounded" "before: $(human "$v0")"
summary "growth: server data after $EDITS edits" "$(human "$s1")" "bounded" "before: $(human "$s0")"
bratio "growth: vault size after / before $EDITS edits" "$v1" "$v0"
bratio "growth: server size after / before $EDITS edits" "$s1" "$s0"
if [ "$purge" = done ]; then
  v2="$(vault_bytes)"; s2="$(server_bytes)"
  printf '  %-34s %14s %14s\n' "after kpm history purge + sync" "$(human "$v2")" "$(human "$s2")"
  bratio "growth: vault after purge / before edits" "$v2" "$v0"
  bratio "growth: server after purge / before edits" "$s2" "$s0"
else
  printf '  %-34s %s\n' 'kpm history purge (compaction)' "$purge"
  summary "growth: kpm history purge (compaction)" "$purge" "bounded"
fi
