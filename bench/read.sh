#!/usr/bin/env bash
# `kpm read kpm://Personal/site<N/2>/password` with the agent unlocked on a 10k-entry vault, in one
# run against `kpm get` (the same lookup by name), `pass show` on the same 10k entries, and
# `node -e 0` (the floor of any Node CLI); plus `kpm run` with one reference around `node -e 0`; plus
# `kpm read` through a service token (KPM_TOKEN, no local vault) against a loopback kpm-server
# (SQLite): the first read of a job fetches, verifies and decrypts the whole vault and keeps it in the
# encrypted token cache (KPM_CACHE_DIR); the tenth (and every later one) asks the server for the
# head only and reads from the cache. Both against `kpm read` through the agent.
# Then the first and the tenth token read against the agent's read once more, in one interleaved loop
# (bench/lib/tokentime.mjs: a change of load hits every case alike; the load average each round).
# BENCH_KPM_BEFORE=/path/to/other/checkout/bin/kpm adds that build's first and tenth read, its own
# client against its own kpm-server (started on this run's data folder), in the same loop.
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
unset KPM_MASTER_PASSWORD KPM_TOKEN

# a loopback server, an account, the vault synced, and a read-only token for it
start_kpm_server
bench_account "$KH" bench@example.org
kpm_unlock "$KH"
TOKEN_FILE="$RUN_DIR/token.txt"
"$KPM" token create --vault Personal --read-only --expires 1h --name bench >"$TOKEN_FILE" 2>"$RUN_DIR/token.err" || { cat "$RUN_DIR/token.err" >&2; die "kpm token create failed"; }
EMPTY_HOME="$RUN_DIR/token-machine"   # never created: a token needs no KPM_HOME
TOKEN_CACHE="$RUN_DIR/token-cache"
token_env() { (export KPM_HOME="$EMPTY_HOME" KPM_SERVER="$SERVER_URL" KPM_TOKEN="$(cat "$TOKEN_FILE")" KPM_CACHE_DIR="$TOKEN_CACHE"; "$@"); }
expect_output "kpm read (KPM_TOKEN)" "$WANT" token_env "$KPM" read "$REF" || die "kpm read with KPM_TOKEN does not print the password"
expect_output "kpm read (agent)" "$WANT" "$KPM" read "$REF" || die "kpm read does not print the password"
expect_output "kpm get (agent)" "$WANT" "$KPM" get "$NAME" || die "kpm get does not print the password"
# kpm run: the child prints the resolved variable's length (never the secret)
expect_output "kpm run" "${#WANT}" env "SECRET=$REF" "$KPM" run -- node -e 'console.log(process.env.SECRET.length)' || die "kpm run does not resolve the reference"

peers=()
add_pass_peer "$N" "$NAME" "$WANT" || log "pass/gpg not available: skipping pass show"


header "kpm read with the agent unlocked ($N entries)"
hf "$RUN_DIR/read.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm read (agent)" "$KPM read $REF" \
  -n "kpm get (agent)" "$KPM get $NAME" \
  "${peers[@]}"
print_table "$RUN_DIR/read.json"

# the token travels in the environment only (hyperfine's, inherited), never in a command line
header "kpm read with a service token, no local vault ($N entries, loopback server)"
# first read of a job: the cache is removed before each run; tenth: nine reads before, the cache warm
KPM_HOME="$EMPTY_HOME" KPM_SERVER="$SERVER_URL" KPM_TOKEN="$(cat "$TOKEN_FILE")" KPM_CACHE_DIR="$TOKEN_CACHE" hf "$RUN_DIR/token-first.json" \
  --prepare "rm -rf $TOKEN_CACHE" -n "kpm read (KPM_TOKEN, first)" "$KPM read $REF"
rm -rf "$TOKEN_CACHE"
for _ in 1 2 3 4 5 6 7 8 9; do token_env "$KPM" read "$REF" >/dev/null; done
KPM_HOME="$EMPTY_HOME" KPM_SERVER="$SERVER_URL" KPM_TOKEN="$(cat "$TOKEN_FILE")" KPM_CACHE_DIR="$TOKEN_CACHE" hf "$RUN_DIR/token.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm read (KPM_TOKEN)" "$KPM read $REF" \
  -n "kpm read (agent, same run)" "env -u KPM_TOKEN KPM_HOME=$KH $KPM read $REF" \
  "${peers[@]}"
print_table "$RUN_DIR/token-first.json" "$RUN_DIR/token.json"

header "kpm read with a service token: first and tenth read, one interleaved loop ($N entries)"
if [ -n "${BENCH_KPM_BEFORE:-}" ]; then
  # the other build's server on this run's data (SQLite in WAL mode: both servers only read it here)
  node "$(dirname "$BENCH_KPM_BEFORE")/kpm-server" --data-dir "$SRV" --port 0 --log-level warn 2>"$RUN_DIR/before-server.err" >/dev/null &
  BEFORE_PID=$!
  trap 'kill $SRV_PID $BEFORE_PID 2>/dev/null || true; cleanup' EXIT
  for _ in $(seq 100); do grep -qs 'listening on' "$RUN_DIR/before-server.err" && break; sleep 0.1; done
  export BENCH_SERVER_BEFORE="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$RUN_DIR/before-server.err")"
  [ -n "$BENCH_SERVER_BEFORE" ] || die "the kpm-server of BENCH_KPM_BEFORE did not start"
  log "BENCH_KPM_BEFORE: $BENCH_KPM_BEFORE, its server at $BENCH_SERVER_BEFORE"
fi
mkdir -p "$RUN_DIR/tokentime"
node "$BENCH_DIR/lib/tokentime.mjs" "$KPM" "$KH" "$SERVER_URL" "$TOKEN_FILE" "$REF" "$WANT" "$RUN_DIR/tokentime" "$RUNS" "$WARMUP"

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
T="$RUN_DIR/token.json"
ratio "kpm read (KPM_TOKEN) tenth / node -e 0" "$(median_ms "$T" "kpm read (KPM_TOKEN)")" "$(median_ms "$T" "node -e 0")"
ratio "kpm read (KPM_TOKEN) first / kpm read (agent)" "$(median_ms "$RUN_DIR/token-first.json" "kpm read (KPM_TOKEN, first)")" "$(median_ms "$T" "kpm read (agent, same run)")" "≤ 3" 3
ratio "kpm read (KPM_TOKEN) tenth / kpm read (agent)" "$(median_ms "$T" "kpm read (KPM_TOKEN)")" "$(median_ms "$T" "kpm read (agent, same run)")" "≤ 1.5" 1.5
ratio "kpm read (KPM_TOKEN) tenth / pass show" "$(median_ms "$T" "kpm read (KPM_TOKEN)")" "$(median_ms "$T" "pass show")"
ratio "kpm run -- node -e 0 / node -e 0" "$(median_ms "$RUN_DIR/run.json" "kpm run -- node -e 0")" "$(median_ms "$RUN_DIR/run.json" "node -e 0 (child alone)")"
