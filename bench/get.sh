#!/usr/bin/env bash
# `kpm get NAME` on a 10k-entry vault, against the peers on the same 10k entries, in one run:
#   with the agent unlocked:  vs `node -e 0` (the floor of any Node CLI), `pass show`, `gopass show`
#   without an agent:         vs `keepassxc-cli show -a Password` (both derive the key on every call)
#   peak RSS of `kpm get` (GNU time).
# Usage: bash bench/get.sh   (knobs: see bench/lib/common.sh; BENCH_ENTRIES=10000)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-10000}"
NAME="site$((N / 2))"

ensure_core
ensure_tools pass:pass gpg:gnupg gopass:gopass keepassxc-cli:keepassxc
build_kpm
new_run_dir
machine_note

KH="$RUN_DIR/kpm"
make_kpm_home "$KH" "$N"
WANT="$(entry_password $((N / 2)))"
export KPM_HOME="$KH"
unset KPM_MASTER_PASSWORD
kpm_unlock "$KH"
expect_output "kpm get (agent)" "$WANT" "$KPM" get "$NAME" || die "kpm get does not print the password"

peers=()
if add_pass_peer "$N" "$NAME" "$WANT"; then
  if have gopass; then
    expect_output "gopass show" "$WANT" gopass show "$NAME" && peers+=(-n "gopass show" "gopass show $NAME")
  fi
else
  log "pass/gpg not available: skipping the pass peers"
fi

header "kpm get with the agent unlocked ($N entries)"
hf "$RUN_DIR/agent.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm get (agent)" "$KPM get $NAME" \
  "${peers[@]}"
print_table "$RUN_DIR/agent.json"

# Without an agent: every call derives the key (Argon2id for kpm, KeePassXC's KDF for keepassxc-cli).
# Both read the password on stdin, so both run under a shell whose start-up hyperfine subtracts.
kpm_lock "$KH"
noagent=(-n "kpm get --password-stdin (no agent)" "$KPM get $NAME --password-stdin < $RUN_DIR/master.txt")
KDBX=""
if have keepassxc-cli; then
  KDBX="$(make_kdbx "$N")"
  expect_output "keepassxc-cli show" "$WANT" sh -c "keepassxc-cli show -q -a Password '$KDBX' '$NAME' < '$RUN_DIR/master.txt'" &&
    noagent+=(-n "keepassxc-cli show -a Password" "keepassxc-cli show -q -a Password $KDBX $NAME < $RUN_DIR/master.txt")
else
  log "keepassxc-cli not available: skipping it"
fi
expect_output "kpm get (no agent)" "$WANT" sh -c "'$KPM' get '$NAME' --password-stdin < '$RUN_DIR/master.txt'" || die "kpm get --password-stdin failed"
# The same at equal KDF work: KeePassXC's default for new files is AES-KDF (lighter than kpm's
# Argon2id 64 MiB, t=3, p=4), so the same entries also go into a KDBX 4 with Argon2id 64 MiB, 3 passes
# (`kpm export --format kdbx`, export password = the master password).
if have keepassxc-cli; then
  printf '%s\n%s\n' "$MASTER" "$MASTER" | KPM_HOME="$KH" "$KPM" export --format kdbx -o "$RUN_DIR/argon2.kdbx" --password-stdin --export-password-stdin >/dev/null 2>&1 &&
    expect_output "keepassxc-cli show (Argon2id)" "$WANT" sh -c "keepassxc-cli show -q -a Password '$RUN_DIR/argon2.kdbx' '$NAME' < '$RUN_DIR/master.txt'" &&
    noagent+=(-n "keepassxc-cli show, Argon2id KDBX" "keepassxc-cli show -q -a Password $RUN_DIR/argon2.kdbx $NAME < $RUN_DIR/master.txt")
fi

header "kpm get without an agent ($N entries; key derivation on every call)"
hf "$RUN_DIR/noagent.json" -S sh "${noagent[@]}"
# The same through KPM_MASTER_PASSWORD, without a shell.
KPM_MASTER_PASSWORD="$MASTER" hf "$RUN_DIR/noagent-env.json" -n "kpm get, KPM_MASTER_PASSWORD (no agent)" "$KPM get $NAME"
print_table "$RUN_DIR/noagent.json" "$RUN_DIR/noagent-env.json"
if [ -n "$KDBX" ]; then
  log "KeePass database KDF: $(keepassxc-cli db-info -q "$KDBX" <"$RUN_DIR/master.txt" 2>/dev/null | sed -n 's/^KDF: //p')"
fi

header "peak memory (max RSS over 5 runs)"
kpm_unlock "$KH"
RSS_AGENT="$(peak_rss_mib 5 "$KPM" get "$NAME")"
kpm_lock "$KH"
RSS_NOAGENT="$(peak_rss_mib_stdin 5 "$RUN_DIR/master.txt" "$KPM" get "$NAME" --password-stdin)"
RSS_NODE="$(peak_rss_mib 5 node -e 0)"
value "RSS kpm get (agent)" "$RSS_AGENT" MiB "≤ 60" 60
value "RSS kpm get (no agent, Argon2id 64 MiB)" "$RSS_NOAGENT" MiB
value "RSS node -e 0" "$RSS_NODE" MiB
if [ -n "$KDBX" ]; then
  value "RSS keepassxc-cli show" "$(peak_rss_mib_stdin 3 "$RUN_DIR/master.txt" keepassxc-cli show -q -a Password "$KDBX" "$NAME")" MiB
fi

header "ratios (same run)"
A="$RUN_DIR/agent.json"
ratio "kpm get (agent) / node -e 0" "$(median_ms "$A" "kpm get (agent)")" "$(median_ms "$A" "node -e 0")" "≤ 1.25" 1.25
ratio "kpm get (agent) / pass show" "$(median_ms "$A" "kpm get (agent)")" "$(median_ms "$A" "pass show")"
ratio "kpm get (agent) / gopass show" "$(median_ms "$A" "kpm get (agent)")" "$(median_ms "$A" "gopass show")"
ratio "kpm get (no agent) / keepassxc-cli show" "$(median_ms "$RUN_DIR/noagent.json" "kpm get --password-stdin (no agent)")" \
  "$(median_ms "$RUN_DIR/noagent.json" "keepassxc-cli show -a Password")" "≤ 0.5" 0.5
ratio "kpm get (no agent) / keepassxc-cli show, equal KDF (Argon2id)" "$(median_ms "$RUN_DIR/noagent.json" "kpm get --password-stdin (no agent)")" \
  "$(median_ms "$RUN_DIR/noagent.json" "keepassxc-cli show, Argon2id KDBX")" "≤ 0.5" 0.5
log "load: $(uptime)"
