#!/usr/bin/env bash
# Unlock cost at the default KDF (Argon2id, 64 MiB, t=3, p=4):
#   in-process: kpm's key derivation and unlockKeyring() vs the native `argon2` package called
#               directly with the same parameters (bench/lib/kdf.ts), interleaved in one process;
#   whole process: `kpm get --password-stdin` and `kpm unlock` on a 1-entry vault vs a Node process
#               that only loads `argon2` and hashes once (bench/lib/argon2-once.mjs), and `node -e 0`.
# Usage: bash bench/kdf.sh   (knobs: see bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

ensure_core
build_kpm
bundle_helper kdf
new_run_dir
machine_note

KH="$RUN_DIR/kpm1"
make_kpm_home "$KH" 1
export KPM_HOME="$KH"
unset KPM_MASTER_PASSWORD

header "in-process key derivation, Argon2id m=64 MiB t=3 p=4 (median of $RUNS interleaved rounds)"
KPM_BENCH_PASSWORD="$MASTER" node "$WORK_ROOT/kdf.mjs" --runs "$RUNS" --warmup 2 >"$RUN_DIR/kdf.json" || die "kdf bench failed"
printf '%-44s %9s %9s %9s\n' 'case' 'median' 'min' 'max'
jq -r '.results[] | [.name, .medianMs, .minMs, .maxMs] | @tsv' "$RUN_DIR/kdf.json" |
  awk -F'\t' '{ printf "%-44s %6.1f ms %6.1f ms %6.1f ms\n", $1, $2, $3, $4 }'
log "loading the native argon2 addon took $(jq -r '.nativeLoadMs | . * 10 | round / 10' "$RUN_DIR/kdf.json") ms; Session.open afterwards $(jq -r '.sessionOpenMs | . * 10 | round / 10' "$RUN_DIR/kdf.json") ms"
kdf_ms() { jq -r --arg n "$1" --arg f "${2:-medianMs}" '.results[] | select(.name == $n) | .[$f] | . * 10 | round / 10' "$RUN_DIR/kdf.json"; }

header "whole process (1-entry vault)"
expect_output "kpm get (no agent)" "$(entry_password 0)" sh -c "'$KPM' get site0 --password-stdin < '$RUN_DIR/master.txt'" || die "kpm get --password-stdin failed"
hf "$RUN_DIR/proc.json" -S sh \
  -n "node -e 0" "node -e 0" \
  -n "node + native argon2, one hash" "node $BENCH_DIR/lib/argon2-once.mjs" \
  -n "kpm get --password-stdin (no agent)" "$KPM get site0 --password-stdin < $RUN_DIR/master.txt"
# `kpm unlock` starts the agent (which opens the vaults) and returns once it listens; lock before each run.
hf "$RUN_DIR/unlock.json" -S sh --prepare "KPM_HOME=$KH $KPM lock" \
  -n "kpm unlock --password-stdin" "$KPM unlock --password-stdin --timeout 60 < $RUN_DIR/master.txt"
kpm_lock "$KH"
print_table "$RUN_DIR/proc.json" "$RUN_DIR/unlock.json"

header "ratios (same run)"
ratio "kpm argon2id() / native argon2" "$(kdf_ms "kpm argon2id()")" "$(kdf_ms "native argon2.hash (raw)")" "≤ 1.3" 1.3
ratio "kpm unlockKeyring() / native argon2" "$(kdf_ms "kpm unlockKeyring()")" "$(kdf_ms "native argon2.hash (raw)")" "≤ 1.3" 1.3
# On a busy machine the fastest round is the steadier estimate of each one's own cost.
ratio "kpm unlockKeyring() / native argon2 (fastest)" "$(kdf_ms "kpm unlockKeyring()" minMs)" "$(kdf_ms "native argon2.hash (raw)" minMs)"
P="$RUN_DIR/proc.json"
ratio "kpm get no agent / node+argon2 process" "$(median_ms "$P" "kpm get --password-stdin (no agent)")" "$(median_ms "$P" "node + native argon2, one hash")"
ratio "kpm unlock / node+argon2 process" "$(median_ms "$RUN_DIR/unlock.json" "kpm unlock --password-stdin")" "$(median_ms "$P" "node + native argon2, one hash")"
value "kpm get no agent − node+argon2 process" "$(awk -v a="$(median_ms "$P" "kpm get --password-stdin (no agent)")" -v b="$(median_ms "$P" "node + native argon2, one hash")" 'BEGIN { printf "%.1f", a - b }')" ms
