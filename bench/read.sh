#!/usr/bin/env bash
# `kpm read kpm://Personal/site<N/2>/password` with the agent unlocked on a 10k-entry vault, in one
# run against `kpm get` (the same lookup by name), `pass show` on the same 10k entries, and
# `node -e 0` (the floor of any Node CLI); plus `kpm run` with one reference around `node -e 0`.
# Usage: bash bench/read.sh   (knobs: see bench/lib/common.sh; BENCH_ENTRIES=10000)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-10000}"
NAME="site$((N / 2))"
REF="kpm://Personal/$NAME/password"

ensure_core
ensure_tools pass:pass gpg:gnupg
build_kpm
new_run_dir
machine_note

KH="$RUN_DIR/kpm"
make_kpm_home "$KH" "$N"
WANT="$(entry_password $((N / 2)))"
export KPM_HOME="$KH"
unset KPM_MASTER_PASSWORD
kpm_unlock "$KH"
expect_output "kpm read (agent)" "$WANT" "$KPM" read "$REF" || die "kpm read does not print the password"
expect_output "kpm get (agent)" "$WANT" "$KPM" get "$NAME" || die "kpm get does not print the password"
# kpm run: the child prints the resolved variable's length (never the secret)
expect_output "kpm run" "${#WANT}" env "SECRET=$REF" "$KPM" run -- node -e 'console.log(process.env.SECRET.length)' || die "kpm run does not resolve the reference"

peers=()
if have pass && have gpg; then
  make_pass_store "$N"
  gpg --batch --quiet --decrypt "$PASSWORD_STORE_DIR/$NAME.gpg" >/dev/null 2>&1 # warm gpg-agent
  expect_output "pass show" "$WANT" pass show "$NAME" && peers+=(-n "pass show" "pass show $NAME")
else
  log "pass/gpg not available: skipping pass show"
fi

header "kpm read with the agent unlocked ($N entries)"
hf "$RUN_DIR/read.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm read (agent)" "$KPM read $REF" \
  -n "kpm get (agent)" "$KPM get $NAME" \
  "${peers[@]}"
print_table "$RUN_DIR/read.json"

header "kpm run with one reference ($N entries)"
SECRET="$REF" hf "$RUN_DIR/run.json" \
  -n "node -e 0 (child alone)" "node -e 0" \
  -n "kpm run -- node -e 0" "$KPM run -- node -e 0"
print_table "$RUN_DIR/run.json"

header "ratios (same run)"
R="$RUN_DIR/read.json"
ratio "kpm read (agent) / node -e 0" "$(median_ms "$R" "kpm read (agent)")" "$(median_ms "$R" "node -e 0")" "≤ 1.25" 1.25
ratio "kpm read (agent) / kpm get (agent)" "$(median_ms "$R" "kpm read (agent)")" "$(median_ms "$R" "kpm get (agent)")"
ratio "kpm read (agent) / pass show" "$(median_ms "$R" "kpm read (agent)")" "$(median_ms "$R" "pass show")"
ratio "kpm run -- node -e 0 / node -e 0" "$(median_ms "$RUN_DIR/run.json" "kpm run -- node -e 0")" "$(median_ms "$RUN_DIR/run.json" "node -e 0 (child alone)")"
